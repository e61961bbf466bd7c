"""The live service (`execsvc serve`, TRADING_MODE=live, ccxt against the local Binance order
stub, a real redis-server) killed with SIGKILL after the exchange accepted an order and before
the service recorded it (issue 10, finding 1): after a restart, the client's retry finds the
order at the exchange by its client order id and nothing is sent again."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import httpx

from tests.support.binance_orders import ORDER_PATH, BinanceOrderStub
from tests.support.binance_stub import DEFAULT_API_KEY, DEFAULT_SECRET
from tests.support.redis_server import RedisServer, free_port
from tests.support.service import start_execsvc, stop, wait_ready

KEY = "live-crash-key-0123456789"
HEADERS = {"X-API-Key": KEY}
ORDER = {"client_order_id": "crash-live-1", "symbol": "BTCUSDT", "side": "buy",
         "type": "market", "quantity": 0.01}


def live_env(stub: BinanceOrderStub, redis: RedisServer, port: int) -> dict[str, str]:
    return {"EXECSVC_REDIS_URL": redis.url, "EXECSVC_API_KEYS": KEY,
            "EXECSVC_SOURCE": "ccxt", "EXECSVC_TRADING_MODE": "live",
            "EXECSVC_EXCHANGE_BASE_URL": stub.base_url,
            "EXECSVC_EXCHANGE_API_KEY": DEFAULT_API_KEY,
            "EXECSVC_EXCHANGE_SECRET": DEFAULT_SECRET, "EXECSVC_SYMBOLS": "BTCUSDT",
            "EXECSVC_WINDOWS": "7d", "EXECSVC_CCXT_TIMEFRAME": "5m",
            "EXECSVC_PORT": str(port), "EXECSVC_LOG_LEVEL": "WARNING",
            "EXECSVC_LIQUIDATIONS": "false"}  # the stub serves no liquidation stream


async def test_a_kill_between_the_exchange_and_the_record_sends_nothing_twice(
        tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    with BinanceOrderStub() as stub:
        env = live_env(stub, redis, port)
        service = start_execsvc("serve", env, log)
        try:
            await wait_ready(base, service, log)
            stub.hold_after_accept(60.0)  # accepted, the answer never comes back in time
            async with httpx.AsyncClient(base_url=base, timeout=90) as client:
                pending = asyncio.create_task(client.post("/orders", json=ORDER,
                                                          headers=HEADERS))
                while not stub.orders:
                    await asyncio.sleep(0.02)
                service.send_signal(signal.SIGKILL)
                assert service.wait(timeout=10) == -signal.SIGKILL
                with contextlib.suppress(httpx.TransportError):
                    await pending  # the connection died with the service
            (placed,) = stub.orders
            stub.clear_faults()

            service = start_execsvc("serve", env, log)
            await wait_ready(base, service, log)
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                retry = await client.post("/orders", json=ORDER, headers=HEADERS)
                assert retry.status_code in (200, 201), retry.text
                assert retry.json()["exchange_order_id"] == str(placed.order_id)
                again = await client.post("/orders", json=ORDER, headers=HEADERS)
                assert again.status_code == 200
            posts = [r for r in stub.requests if r.method == "POST" and r.path == ORDER_PATH]
            assert len(posts) == 1 and len(stub.orders) == 1, "the order was sent once"
        finally:
            stop(service)
            redis.stop()
