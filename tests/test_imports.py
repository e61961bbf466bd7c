"""ccxt (331 modules, a tenth of a second of start-up and a heap the garbage collector walks)
loads only where a configuration uses it: `execsvc serve` in replay mode never imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SERVE_ONCE = """
import asyncio, json, os, sys
import execsvc.cli, execsvc.api.server
from execsvc.runtime import make_app
from execsvc.settings import Settings

app = make_app(Settings(), with_worker=True)

async def main():
    async with app.router.lifespan_context(app):
        store = app.state.ctx.store
        for _ in range(300):
            if await store.map_freshness(os.environ["MAP_KEY"], "BTCUSDT", "7d") is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise SystemExit("no map was stored")

asyncio.run(main())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "ccxt")))
"""


def modules_loaded(map_key: str, **env: str) -> list[str]:
    """The ccxt modules loaded by a fresh interpreter that starts the app of `execsvc serve`
    and runs its worker until the map stored under `map_key` (a venue, or `all`) is there."""
    environment = {**os.environ, "EXECSVC_DATA_DIR": "", "EXECSVC_SYMBOLS": "BTCUSDT",
                   "EXECSVC_WINDOWS": "7d", "EXECSVC_LOG_LEVEL": "WARNING", "MAP_KEY": map_key,
                   **env}
    environment.pop("EXECSVC_REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", SERVE_ONCE], env=environment,
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_replay_serve_never_imports_ccxt() -> None:
    assert modules_loaded("all", EXECSVC_SOURCE="replay") == []


def test_a_ccxt_source_does_import_it(binance_stub) -> None:
    loaded = modules_loaded("binanceusdm", EXECSVC_SOURCE="ccxt",
                            EXECSVC_EXCHANGE_BASE_URL=binance_stub.base_url,
                            EXECSVC_CCXT_TIMEFRAME="5m", EXECSVC_LIQUIDATIONS="false")
    assert "ccxt" in loaded and "ccxt.async_support" in loaded
