"""pytest fixtures for the local Binance USD-M stub (`tests/binance_stub.py`).

Re-export from `tests/conftest.py` so every test module can use them::

    from conftest_binance import binance_stub  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from binance_stub import BinanceStub


@pytest.fixture
def binance_stub() -> Iterator[BinanceStub]:
    """A running stub on a free 127.0.0.1 port, fresh state per test; `.base_url`, `.api_key`,
    `.secret`, `.requests` and the fault knobs are on it."""
    with BinanceStub() as stub:
        yield stub
