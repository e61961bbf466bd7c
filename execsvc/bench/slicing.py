"""Slicing on the recorded Binance BTCUSDT books: 10, 50 and 200 BTC bought and sold over 10
minutes; median slippage (bps against the mid) of the plan, one market order and TWAP."""

from __future__ import annotations

import asyncio

import numpy as np

from execsvc.bench.figures import Figure, Section
from execsvc.maps.refresh import fetch_snapshot
from execsvc.market.replay import ReplaySource


def bench_slicing(sizes: tuple[float, ...] = (10.0, 50.0, 200.0), horizon_s: float = 600.0,
                  books: int = 100) -> Section:
    from execsvc.execution.impact import sigma_quote_per_sqrt_s, volume_rate_base_per_s
    from execsvc.execution.slice_plan import plan_slices
    from execsvc.market.replay_books import recorded_order_book, snapshot_count

    source = ReplaySource(speed=1.0, symbols=["BTCUSDT"])
    snapshot = asyncio.run(fetch_snapshot(source, source.symbols()[0], 7 * 86_400))
    sigma = sigma_quote_per_sqrt_s(snapshot.candles)
    volume = volume_rate_base_per_s(snapshot.candles)
    count = snapshot_count()
    indices = np.linspace(0, count - 1, min(books, count)).astype(int)
    figures = []
    for side in ("buy", "sell"):
        for size in sizes:
            slippage = np.array([
                (plan.plan_slippage_bps, plan.market_slippage_bps, plan.twap_slippage_bps)
                for plan in (
                    plan_slices(recorded_order_book(int(i)), side, size, horizon_s,
                                sigma_quote_per_sqrt_s=sigma, volume_rate_base_per_s=volume)
                    for i in indices
                )
            ])
            plan, market, twap = np.median(slippage, axis=0)
            figures.append(Figure(f"{side} {size:g} BTC, plan", plan, "bps",
                                  note=f"one market order {market:.2f}, TWAP {twap:.2f}"))
    return Section(
        key="slicing",
        title=(f"slicing on {len(indices)} of {count} recorded Binance BTCUSDT books, horizon "
               f"{horizon_s:g} s, sigma {sigma:.2f} USDT/sqrt(s), volume {volume:.2f} BTC/s; "
               "median slippage against the mid"),
        figures=figures,
    )
