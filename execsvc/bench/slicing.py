"""Slicing on the recorded Binance BTCUSDT books: median slippage (bps against the mid) of the
plan, one market order and TWAP, with the book refilling at once between children (the old
assumption) and at the calibrated resilience rate (`execution.resilience`)."""

from __future__ import annotations

import asyncio
import math

import numpy as np

from execsvc.bench.figures import Figure, Section
from execsvc.maps.refresh import fetch_snapshot
from execsvc.market.replay import ReplaySource

SLICING_CASES: tuple[tuple[str, float, float], ...] = (
    ("buy", 10.0, 600.0), ("buy", 50.0, 600.0), ("buy", 200.0, 600.0), ("sell", 200.0, 600.0),
    ("buy", 200.0, 21_600.0), ("buy", 50.0, 60.0), ("sell", 200.0, 60.0),
)
"""(side, base quantity in BTC, horizon in seconds)."""


def bench_slicing(cases: tuple[tuple[str, float, float], ...] = SLICING_CASES,
                  books: int = 100) -> Section:
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

    def medians(side: str, size: float, horizon_s: float, rate: float) -> np.ndarray:
        plans = [plan_slices(recorded_order_book(int(i)), side, size, horizon_s,
                             sigma_quote_per_sqrt_s=sigma, volume_rate_base_per_s=volume,
                             precision=grid, resilience_rate_per_s=rate)
                 for i in indices]
        return np.median([(p.plan_slippage_bps, p.market_slippage_bps, p.twap_slippage_bps)
                          for p in plans], axis=0)

    figures = []
    for side, size, horizon_s in cases:
        instant = medians(side, size, horizon_s, math.inf)
        plan, market, twap = medians(side, size, horizon_s, RECOVERY_RATE_PER_S)
        figures.append(Figure(
            f"{side} {size:g} BTC over {horizon_s:g} s, plan", float(plan), "bps",
            note=(f"one market order {market:.2f}, TWAP {twap:.2f}; book refilling at once: "
                  f"plan {instant[0]:.2f}, market {instant[1]:.2f}, TWAP {instant[2]:.2f}"),
        ))
    return Section(
        key="slicing",
        title=(f"slicing on {len(indices)} of {count} recorded Binance BTCUSDT books, sigma "
               f"{sigma:.2f} USDT/sqrt(s), volume {volume:.2f} BTC/s, strategy auto; median "
               f"slippage against the mid with the book refilling at the calibrated rate "
               f"(half-life {half_life_s(RECOVERY_RATE_PER_S):.2f} s)"),
        figures=figures,
    )
