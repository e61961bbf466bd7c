"""`stalls`: does background work stall the API? `/healthz` latency at 16 clients on a quiet
server against the same while the worker recomputes every map every second and slice plans
are being computed, each on a fresh server in this run (embedded store, replay data, the
default three symbols and three windows).

- quiet: `execsvc serve` whose worker refreshes once an hour (its first tick is over before
  the measurement starts), no slice requests.
- serve: `execsvc serve` refreshing every second (its worker in a process of its own,
  `maps.worker_process`), and `SLICE_RATE` requests per second to `/suggest/slice`, each with
  a new quantity, side and horizon (no answer is memoised).
- api + worker: the same load on `execsvc api` with `execsvc worker` started apart on the same
  store, as production runs them: the reference for `serve`.

The number of map versions stored during each measurement (from `/symbols`) shows the worker
really recomputed, and the slice rate that plans were really computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp

from execsvc.bench.figures import Figure, Section, Target
from execsvc.bench.http import (
    HEALTHZ,
    LoadResult,
    _free_port,
    _load,
    _wait_ready,
    start_server,
)

CLIENTS = 16
SLICE_RATE = 5.0
"""Slice plans asked per second, at a steady pace whatever the answers take (a closed loop of
clients would ask more the faster the server is, and load the better setup more)."""
BUSY = {"EXECSVC_REFRESH_INTERVAL_S": "1", "EXECSVC_WINDOWS": "1d,7d,30d"}
QUIET = {**BUSY, "EXECSVC_REFRESH_INTERVAL_S": "3600", "EXECSVC_MAX_MAP_AGE_S": "7200"}


def _slice_body(rng: random.Random) -> dict:
    return {"symbol": "BTCUSDT", "side": rng.choice(("buy", "sell")),
            "quantity": round(rng.uniform(1.0, 300.0), 3),
            "horizon_s": rng.choice((60, 300, 900, 3600))}


async def _versions(base: str) -> int:
    """The sum of every stored map's version (how many maps were stored so far)."""
    async with aiohttp.ClientSession() as session, session.get(f"{base}/symbols") as response:
        body = await response.json()
    return sum(w["version"] or 0 for s in body["symbols"] for w in s["windows"].values())


async def _paced(base: str, path: str, body: Callable[[], dict], rate: float,
                 seconds: float, warmup_s: float) -> LoadResult:
    """`rate` POSTs per second for `seconds` after `warmup_s`, each sent on time whether or
    not the earlier ones were answered."""
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession() as session:
        async def one(counted: bool) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                async with session.post(f"{base}{path}", json=body()) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if counted:
                errors += not ok
                latencies.append((time.perf_counter() - started) * 1000)

        begin = time.perf_counter()
        sent = []
        for k in range(int((warmup_s + seconds) * rate)):
            await asyncio.sleep(max(0.0, begin + k / rate - time.perf_counter()))
            sent.append(asyncio.create_task(one(counted=k >= warmup_s * rate)))
        await asyncio.gather(*sent)
    return LoadResult(len(latencies), errors, seconds, latencies)


async def _measure(base: str, seconds: float, slices: bool
                   ) -> tuple[LoadResult, LoadResult | None, int]:
    """/healthz under `CLIENTS` (with paced slice requests beside it when `slices`), and how
    many maps were stored meanwhile."""
    rng = random.Random(7)
    before = await _versions(base)
    loads = [_load(base, HEALTHZ, CLIENTS, seconds, 1.0)]
    if slices:
        loads.append(_paced(base, "/suggest/slice", lambda: _slice_body(rng), SLICE_RATE,
                            seconds, 1.0))
    results = await asyncio.gather(*loads)
    stored = await _versions(base) - before
    return results[0], results[1] if slices else None, stored


@contextlib.contextmanager
def _running(processes: list[subprocess.Popen]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _serve(directory: Path, settings: dict[str, str], seconds: float, slices: bool
           ) -> tuple[LoadResult, LoadResult | None, int]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = directory / "serve.log"
    server = start_server(port, str(directory / "store"), log, settings=settings)
    with _running([server]):
        asyncio.run(_wait_ready(base, server, log))
        return asyncio.run(_measure(base, seconds, slices))


def _api_and_worker(directory: Path, seconds: float
                    ) -> tuple[LoadResult, LoadResult | None, int]:
    from execsvc.store.embedded import EmbeddedServer

    store = EmbeddedServer(directory / "store")
    url = f"unix://{store.start()}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = directory / "api.log"
    try:
        api = start_server(port, "", log, url, "api", BUSY)
        worker = start_server(port, "", log, url, "worker", BUSY)
        with _running([api, worker]):
            asyncio.run(_wait_ready(base, api, log))
            return asyncio.run(_measure(base, seconds, slices=True))
    finally:
        store.stop()


def _note(health: LoadResult, sliced: LoadResult | None, stored: int, seconds: float) -> str:
    parts = [f"p50 {health.percentile(50):.2f} ms, {health.rps:,.0f} req/s"]
    if sliced is not None:
        parts.append(f"{sliced.rps:.1f} slice plans/s (p50 {sliced.percentile(50):.0f} ms, "
                     f"p99 {sliced.percentile(99):.0f} ms, errors {sliced.errors})")
    parts.append(f"{stored} maps stored in {seconds + 1:g} s")
    return ", ".join(parts)


def bench_stalls(seconds: float = 5.0) -> Section:
    with tempfile.TemporaryDirectory(prefix="execsvc-stalls-") as work:
        runs = {}
        for name, run in (
            ("quiet", lambda d: _serve(d, QUIET, seconds, slices=False)),
            ("serve", lambda d: _serve(d, BUSY, seconds, slices=True)),
            ("api + worker", lambda d: _api_and_worker(d, seconds)),
        ):
            directory = Path(work) / name.replace(" ", "")
            directory.mkdir()
            runs[name] = run(directory)
    quiet = runs["quiet"][0].percentile(99)
    figures = []
    for name, (health, sliced, stored) in runs.items():
        p99 = health.percentile(99)
        figures.append(Figure(f"/healthz p99, {name}", p99, "ms",
                              note=_note(health, sliced, stored, seconds)))
        if name != "quiet":
            figures.append(Figure(f"/healthz p99, {name} / quiet", p99 / quiet, "x",
                                  Target("<=", 2.0) if name == "serve" else None))
    return Section(
        key="stalls",
        title=(f"Stalls: /healthz at {CLIENTS} clients, {seconds:g} s, quiet against the worker "
               f"refreshing 3 symbols x 3 windows every second and {SLICE_RATE:g} slice plans "
               "asked per second (embedded store, loopback)"),
        figures=figures,
        notes=["the target applies to `execsvc serve` (its worker in a child process); api + "
               "worker is the same load on the two commands started apart, for comparison"],
    )
