"""The service itself (`execsvc serve`) killed with SIGKILL in the middle of a burst of orders
sent over HTTP, against a redis-server with AOF: after a restart every acknowledged order is
there with the same fills, and sending the whole burst again doubles nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import RedisServer, free_port
from tests.support.service import start_execsvc, wait_ready

KEY = "crash-test-key-0123456789"
HEADERS = {"X-API-Key": KEY}
BURST = 80
KILL_AFTER = 30
QUANTITY = 0.01


def start_service(redis_url: str, port: int, log: Path) -> subprocess.Popen:
    return start_execsvc("serve", {
        "EXECSVC_REDIS_URL": redis_url, "EXECSVC_API_KEYS": KEY, "EXECSVC_SYMBOLS": "BTCUSDT",
        "EXECSVC_WINDOWS": "1d,7d", "EXECSVC_PORT": str(port), "EXECSVC_LOG_LEVEL": "WARNING",
        "EXECSVC_PAPER_STARTING_BALANCE_QUOTE": "1000000"}, log)


def order(i: int) -> dict:
    return {"client_order_id": f"burst-{i:03d}", "symbol": "BTCUSDT", "side": "buy",
            "type": "market", "quantity": QUANTITY}


async def burst_until_killed(base: str, service: subprocess.Popen) -> dict[str, dict]:
    """Send the burst (4 in flight); SIGKILL the service after KILL_AFTER acknowledgements."""
    acked: dict[str, dict] = {}
    queue = list(range(BURST))

    async def sender(client: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop(0)
            try:
                response = await client.post("/orders", json=order(i), headers=HEADERS)
            except httpx.TransportError:
                return
            if response.status_code == 201:
                acked[order(i)["client_order_id"]] = response.json()
                if len(acked) == KILL_AFTER:
                    service.send_signal(signal.SIGKILL)

    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        await asyncio.gather(*(sender(client) for _ in range(4)))
    return acked


async def test_sigkill_mid_burst_loses_and_doubles_nothing(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis", appendonly=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    service = start_service(redis.url, port, log)
    try:
        await wait_ready(base)
        acked = await burst_until_killed(base, service)
        assert service.wait(timeout=10) == -signal.SIGKILL
        assert len(acked) >= KILL_AFTER, log.read_text()[-2000:]

        service = start_service(redis.url, port, log)
        await wait_ready(base)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for coid, before in acked.items():
                after = (await client.get(f"/orders/{coid}", headers=HEADERS)).json()
                assert after["id"] == before["id"] and after["fills"] == before["fills"]
            for i in range(BURST):  # the client retries everything it is unsure of
                response = await client.post("/orders", json=order(i), headers=HEADERS)
                assert response.status_code in (200, 201), response.text
                coid = order(i)["client_order_id"]
                if coid in acked:
                    assert response.status_code == 200
                    assert response.json()["id"] == acked[coid]["id"]
            positions = (await client.get("/positions", headers=HEADERS)).json()["positions"]
        assert len(positions) == 1
        assert positions[0]["size"] == pytest.approx(BURST * QUANTITY), "each order filled once"
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=10)
        redis.stop()
