"""Several venues from the bundled replay for multi-venue tests: the recordings as they are,
one an hour later in the recording (other marks and other positions: a venue with its own
data), one whose candles stop coming (its data lags the clock) and one that cannot be
reached. The faults are the real sources' answers with their clock or data cut, so the worker
sees what a venue in that state delivers."""

from __future__ import annotations

import pytest

from execsvc.market.replay import ReplaySource
from execsvc.market.types import MarketSource, MarketSourceError

HOUR_MS = 3_600_000


def frozen_replay(symbols: list[str], offset_ms: int = 0) -> ReplaySource:
    """The bundled replay with a still clock, `offset_ms` into the recording."""
    source = ReplaySource(speed=720, symbols=symbols, clock=lambda: 0.0)
    source.advance(offset_ms)
    return source


class LaggingReplay(ReplaySource):
    """The replay whose clock runs `lag_ms` ahead of its newest candle (a feed that stopped)."""

    def __init__(self, symbols: list[str], lag_ms: int) -> None:
        super().__init__(speed=720, symbols=symbols, clock=lambda: 0.0)
        self.lag_ms = lag_ms

    async def now_ms(self, symbol: str) -> int:
        return await super().now_ms(symbol) + self.lag_ms


class UnreachableReplay(ReplaySource):
    """The replay's symbols, but every request for candles fails as a venue that is down."""

    async def candles(self, symbol: str, since_ms: int):
        raise MarketSourceError(f"{symbol}: venue unreachable (connection refused)")


def venues(*names: str, symbols: list[str] | None = None) -> dict[str, MarketSource]:
    """Venue id -> source: `binanceusdm` the recording, `bybit` an hour later in it, `okx`
    unreachable, `lagging` ten hours behind its clock."""
    symbols = symbols or ["BTCUSDT"]
    kinds = {
        "binanceusdm": lambda: frozen_replay(symbols),
        "bybit": lambda: frozen_replay(symbols, HOUR_MS),
        "okx": lambda: UnreachableReplay(speed=720, symbols=symbols, clock=lambda: 0.0),
        "lagging": lambda: LaggingReplay(symbols, 10 * HOUR_MS),
    }
    return {name: kinds[name]() for name in names}


def assert_shares_add_up(document: dict) -> None:
    """Per band, per side, per cluster and overall, the venues' notionals make the sum (each
    is rounded to cents on its own)."""
    shares = document["notional_by_venue_quote"]
    included = [v["exchange"] for v in document["venues"] if v["included"]]
    assert list(shares) == included
    cents = 0.01 * len(included)
    for k, band in enumerate(document["bands"]):
        total = band["long_notional_quote"] + band["short_notional_quote"]
        assert sum(shares[v][k] for v in included) == pytest.approx(total, abs=cents)
    for side in ("long", "short"):
        venue_total = sum(v[f"{side}_notional_quote"] for v in document["venues"]
                          if v["included"])
        assert venue_total == pytest.approx(document["totals"][f"{side}_notional_quote"],
                                            rel=1e-9, abs=cents)
    for cluster in document["clusters"]:
        assert list(cluster["notional_by_venue_quote"]) == included
        assert sum(cluster["notional_by_venue_quote"].values()) == pytest.approx(
            cluster["notional_quote"], abs=cents)
