"""The uvicorn server of `execsvc serve` and `execsvc api`: once started, the start-up heap is
frozen out of the garbage collector's reach (its full collections stay short)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

SERVE_AND_REPORT = """
import asyncio, gc, json
from execsvc.api.server import FrozenHeapServer, server_config
from execsvc.runtime import make_app
from execsvc.settings import Settings

settings = Settings(symbols="BTCUSDT", windows="7d", port=0, host="127.0.0.1")
server = FrozenHeapServer(server_config(make_app(settings, with_worker=False), settings))

async def main():
    before = gc.get_freeze_count()
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
    server.should_exit = True
    await serving
    print(json.dumps({"before": before, "frozen": frozen, "tracked": tracked}))

asyncio.run(main())
"""


def test_starting_the_server_freezes_the_start_up_heap() -> None:
    env = {**os.environ, "EXECSVC_DATA_DIR": "", "EXECSVC_LOG_LEVEL": "WARNING"}
    env.pop("EXECSVC_REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", SERVE_AND_REPORT], env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["before"] == 0
    assert report["frozen"] > 20_000  # the app, its models and every module: out of reach
    assert report["tracked"] < report["frozen"] / 10  # what a full collection still walks
    assert gc.get_freeze_count() == 0  # this process was left alone
