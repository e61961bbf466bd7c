"""`execsvc bench`: benchmark figures, each against a baseline measured in the same run.

1. Map build: 43,200 one-minute candles (30 days of the bundled FTX BTC-PERP month) x 5
   leverages x 2 sides = 432,000 cohorts into 800 bands; median ms, and its ratio to one
   `np.bincount` of 432,000 weighted values into 800 bins (targets: <= 10 ms, ratio <= 5).
2. Worker tick: 100 symbols x 3 windows on the replay data, pinned to one CPU core, embedded
   store (or EXECSVC_REDIS_URL); median seconds per tick (target: < 5 s).
3. Paper orders per second end to end (risk gate + fill + journal) and the rebuild of an
   account of 100,000 journal entries, on EXECSVC_REDIS_URL (or the embedded store).
4. Slicing on the recorded Binance BTCUSDT books: 10, 50 and 200 BTC bought and sold over
   10 minutes, median slippage (bps vs mid) of the plan, one market order and TWAP.
5. `/suggest/stop` under concurrent load against `/healthz` (see `execsvc.bench.http`).
6. Realised liquidations: scoring one event against a real map (vs the band lookup alone) and
   storing it (vs a plain XADD), see `execsvc.bench.liquidations`.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from execsvc.liqmap.model import MapParams, build_map
from execsvc.maps.refresh import fetch_snapshot
from execsvc.market.replay import ReplaySource
from execsvc.market.types import SymbolInfo
from execsvc.settings import Settings


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench_map_build(repeats: int) -> None:
    source = ReplaySource(speed=1.0, symbols=["BTC-PERP"])
    source.set_elapsed_ms(6 * 3_600_000)  # past the 30-day warm-up: 43,200 closed candles
    info = source.symbols()[0]
    snapshot = asyncio.run(fetch_snapshot(source, info, 31 * 86_400))
    total = len(snapshot.candles)
    if total < 43_200:
        raise RuntimeError(f"the bundled FTX month gave only {total} one-minute candles")
    candles = snapshot.candles.slice(total - 43_200, total)
    params = MapParams(
        leverage_mix={5: 0.15, 10: 0.3, 25: 0.25, 50: 0.15, 100: 0.15},
        bin_width_bps=5.0, range_pct=20.0,
    )
    cohorts = len(candles) * len(params.leverage_mix) * 2

    def build() -> object:
        return build_map(candles, None, snapshot.brackets, snapshot.price, snapshot.now_ms, params)

    liq_map = build()
    rng = np.random.default_rng(7)
    index = rng.integers(0, liq_map.grid.n_bins, cohorts)
    weights = rng.random(cohorts)
    baseline = median_ms(
        lambda: np.bincount(index, weights=weights, minlength=liq_map.grid.n_bins), repeats
    )
    model = median_ms(build, repeats)
    print(f"map build: {len(candles):,} candles x {len(params.leverage_mix)} leverages x 2 sides "
          f"= {cohorts:,} cohorts into {liq_map.grid.n_bins} bands")
    print(f"  build_map median {model:.2f} ms; one np.bincount of {cohorts:,} values "
          f"{baseline:.2f} ms; ratio {model / baseline:.2f}  (targets <= 10 ms, ratio <= 5)")


class AliasedReplay:
    """The replay source under many symbol keys (`BTCUSDT_007` -> BTCUSDT), for load tests."""

    def __init__(self, inner: ReplaySource, count: int) -> None:
        self.inner = inner
        self.name = "replay-aliased"
        base = inner.symbols()
        self.alias = {f"{base[i % len(base)].symbol}_{i:03d}": base[i % len(base)]
                      for i in range(count)}

    def symbols(self) -> list[SymbolInfo]:
        return [replace(info, symbol=key) for key, info in self.alias.items()]

    def __getattr__(self, name: str):
        method = getattr(self.inner, name)
        if not callable(method) or name in ("symbols", "close"):
            return method

        def call(symbol: str, *args):
            return method(self.alias[symbol].symbol, *args)

        return call

    async def close(self) -> None:
        await self.inner.close()


def bench_worker_tick(symbols: int, repeats: int) -> None:
    from execsvc.maps.worker import MapWorker
    from execsvc.runtime import make_store

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    source = AliasedReplay(ReplaySource(speed=720.0), symbols)
    keys = [info.symbol for info in source.symbols()]
    # the in-process store unless EXECSVC_REDIS_URL is set: nothing lands in the data directory
    settings = Settings(symbols=",".join(keys), windows="1d,7d,30d", refresh_interval_s=5,
                        data_dir="")
    store = make_store(settings)
    worker = MapWorker(source, store, settings)  # type: ignore[arg-type]

    async def ticks() -> list[float]:
        seconds = []
        for _ in range(repeats):
            report = await worker.tick()
            if report.failed:
                raise RuntimeError(f"tick failed: {report.failed}")
            seconds.append(report.seconds)
        return seconds

    seconds = asyncio.run(ticks())
    maps = symbols * 3
    print(f"worker tick: {symbols} symbols x 3 windows = {maps} maps on one core, "
          f"{'redis' if settings.redis_url else 'embedded store'}")
    print(f"  median {statistics.median(seconds):.2f} s per tick "
          f"({statistics.median(seconds) / maps * 1000:.1f} ms per map incl. fetch, "
          f"serialise, store); target < 5 s")


SLICING_CASES: tuple[tuple[str, float, float], ...] = (
    ("buy", 10.0, 600.0), ("buy", 50.0, 600.0), ("buy", 200.0, 600.0), ("sell", 200.0, 600.0),
    ("buy", 200.0, 21_600.0), ("buy", 50.0, 60.0), ("sell", 200.0, 60.0),
)


def bench_slicing(cases: tuple[tuple[str, float, float], ...] = SLICING_CASES,
                  books: int = 100) -> None:
    """Median slippage (bps vs mid) of the plan, one market order and TWAP on recorded books,
    with the book refilling at once between children (the old assumption) and at the
    calibrated resilience rate."""
    from execsvc.execution.impact import sigma_quote_per_sqrt_s, volume_rate_base_per_s
    from execsvc.execution.resilience import RECOVERY_RATE_PER_S, half_life_s
    from execsvc.execution.slice_plan import plan_slices
    from execsvc.market.precision import BUNDLED_PRECISION
    from execsvc.market.replay_books import recorded_order_book, snapshot_count

    source = ReplaySource(speed=1.0, symbols=["BTCUSDT"])
    snapshot = asyncio.run(fetch_snapshot(source, source.symbols()[0], 7 * 86_400))
    sigma = sigma_quote_per_sqrt_s(snapshot.candles)
    volume = volume_rate_base_per_s(snapshot.candles)
    count = snapshot_count()
    indices = np.linspace(0, count - 1, min(books, count)).astype(int)
    grid = BUNDLED_PRECISION["BTCUSDT"]
    print(f"slicing on {len(indices)} of {count} recorded Binance BTCUSDT books, sigma "
          f"{sigma:.2f} USDT/sqrt(s), volume {volume:.2f} BTC/s; median slippage in bps vs mid, "
          f"plan / one market order / TWAP, book refilling at once | at the calibrated rate "
          f"(half-life {half_life_s(RECOVERY_RATE_PER_S):.2f} s); strategy auto")
    for side, size, horizon_s in cases:
        row = []
        for rate in (math.inf, RECOVERY_RATE_PER_S):
            plans = [plan_slices(recorded_order_book(int(i)), side, size, horizon_s,
                                 sigma_quote_per_sqrt_s=sigma, volume_rate_base_per_s=volume,
                                 precision=grid, resilience_rate_per_s=rate)
                     for i in indices]
            figures = np.array([(p.plan_slippage_bps, p.market_slippage_bps,
                                 p.twap_slippage_bps) for p in plans])
            row.append(np.median(figures, axis=0))
        (p0, m0, t0), (p1, m1, t1) = row
        print(f"  {side:<4} {size:>5g} BTC over {horizon_s:>6g} s: {p0:6.2f} {m0:6.2f} {t0:6.2f}"
              f"  |  {p1:6.2f} {m1:6.2f} {t1:6.2f}")


def run_all(repeats: int = 30, tick_symbols: int = 100, http_seconds: float = 5.0) -> None:
    from execsvc.bench.http import bench_suggest_stop
    from execsvc.bench.liquidations import bench_liquidations
    from execsvc.bench.paper import bench_paper

    settings = Settings()
    bench_map_build(repeats)
    bench_slicing()
    bench_suggest_stop(seconds=http_seconds)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    bench_paper(redis_url, policy_path=Path(settings.policies_dir) / settings.policy_file)
    bench_liquidations(redis_url)
    bench_worker_tick(tick_symbols, repeats=max(3, repeats // 10))
