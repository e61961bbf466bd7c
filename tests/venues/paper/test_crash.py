"""Durability for real: a redis-server with AOF (`appendfsync always`), a burst of paper orders
from a child process (`tests/support/paper_burst.py`) killed with SIGKILL mid-burst, then
Redis itself killed with SIGKILL mid-burst and restarted on the same AOF directory. Every
acknowledged order and fill must be in the rebuilt account exactly once, the derived keys must
agree with the fold, and re-sending the whole burst (same client ids) must double nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from execsvc.domain.orders import order_to_json
from execsvc.venues.paper.journal import PaperJournal
from execsvc.venues.paper.state import PaperState
from tests.support import REPO
from tests.support.redis_server import free_port

BURST = REPO / "tests" / "support" / "paper_burst.py"
ACCOUNT = "crash"


class DurableRedis:
    """`redis-server` with `appendonly yes` and `appendfsync always` on `directory`; `kill()`
    sends SIGKILL, `start()` brings it back on a fresh port with the same AOF directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.start()

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = SyncRedis(port=port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if client.ping() and client.info("persistence")["loading"] == 0:
                    client.close()
                    return
            except (OSError, RedisError):
                pass  # starting or loading the AOF
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Ack:
    order_id: str
    status: str
    fills: list[str] = field(default_factory=list)


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[DurableRedis]:
    server = DurableRedis(tmp_path)
    yield server
    server.kill()


def run_burst(url: str, first: int, count: int, *, kill_after: int | None = None,
              on_kill=None) -> tuple[dict[str, Ack], int]:
    """Run the burst child; after `kill_after` acks call `on_kill(child)` (it kills something).
    Returns the acks read (including those already in the pipe) and the child's exit code."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, str(BURST), url, ACCOUNT, str(first), str(count)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                             cwd=REPO)
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    acks: dict[str, Ack] = {}
    try:
        assert child.stdout is not None
        for raw in child.stdout:
            parts = raw.decode().split()
            if parts[0] != "ACK":
                continue
            cid, order_id, status, fills = parts[1:]
            acks[cid] = Ack(order_id, status, [] if fills == "-" else fills.split(","))
            if kill_after is not None and len(acks) == kill_after:
                on_kill(child)
        code = child.wait(timeout=30)
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    return acks, code


async def check_account(url: str, acks: dict[str, Ack]) -> PaperState:
    """Every ack present exactly once, fills unique, derived keys equal to the fold."""
    redis = Redis.from_url(url)
    try:
        journal = PaperJournal(redis, ACCOUNT)
        state = await journal.rebuild()
        events = [e for _, e in await journal.events_since()]
        bound = Counter(e["request"]["client_order_id"] for e in events
                        if e["type"] in ("order_accepted", "order_rejected"))
        assert all(n == 1 for n in bound.values()), "a client order id was bound twice"
        fill_ids = Counter(e["id"] for e in events if e["type"] == "fill")
        assert all(n == 1 for n in fill_ids.values()), "a fill was journaled twice"
        for cid, ack in acks.items():
            assert state.client_ids[cid] == ack.order_id
            order = state.orders[ack.order_id]
            assert [f.id for f in order.fills] == ack.fills
            assert order.status == ack.status
            assert all(fill_ids[f] == 1 for f in ack.fills)
        assert await journal.length() == state.version
        meta = await journal.stored_meta()
        assert int(meta["version"]) == state.version and meta["last_id"] == state.last_id
        stored = await journal.stored_orders()
        assert stored == {i: orjson.loads(orjson.dumps(order_to_json(o)))
                          for i, o in state.orders.items()}
        assert state.balance_quote == pytest.approx(
            state.deposits_quote + state.realized_pnl_quote - state.fees_paid_quote, rel=1e-12)
        return state
    finally:
        await redis.aclose()


def kill_child(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGKILL)


async def test_sigkill_of_service_and_redis_loses_no_acknowledged_fill(
    durable_redis: DurableRedis,
) -> None:
    count = 2_000
    # 1. the service is killed mid-burst
    acks, code = run_burst(durable_redis.url, 0, count, kill_after=150, on_kill=kill_child)
    assert code == -signal.SIGKILL and 150 <= len(acks) < count
    state = await check_account(durable_redis.url, acks)
    assert sum(1 for cid in state.client_ids if cid.startswith("burst-")) <= len(acks) + 1

    # 2. restarted, it re-sends the whole burst: the acknowledged orders come back unchanged
    again, code = run_burst(durable_redis.url, 0, count)
    assert code == 0 and len(again) == count
    assert all(again[cid] == ack for cid, ack in acks.items())
    state = await check_account(durable_redis.url, again)
    assert len(state.client_ids) == count

    # 3. Redis is killed mid-burst and restarted on the same AOF directory
    acks2, code = run_burst(durable_redis.url, count, count, kill_after=150,
                            on_kill=lambda child: durable_redis.kill())
    assert code != 0 and 150 <= len(acks2) < count
    durable_redis.start()
    state = await check_account(durable_redis.url, {**again, **acks2})

    # 4. and the re-sent second burst doubles nothing either
    again2, code = run_burst(durable_redis.url, count, count)
    assert code == 0 and all(again2[cid] == ack for cid, ack in acks2.items())
    state = await check_account(durable_redis.url, {**again, **again2})
    assert len(state.client_ids) == 2 * count
