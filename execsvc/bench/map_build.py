"""The map build against its floor, and the document encoding against the build.

1. `build_map` on 43,200 one-minute candles (30 days of the bundled FTX BTC-PERP month) with
   the service's model parameters, against the floor measured in the same run: the suffix
   minimum of the lows, one `np.bincount` of every cohort's band slot as the model computes it
   (weights: the surviving notional; cohort order group by group, as the numpy reference
   formulation produces them) and a cumulative sum over the bands. Also against one
   `np.bincount` of as many random slots (the earlier baseline).
2. `encode_document` (the stored JSON bytes, head and history snapshot) against `build_map` of
   the same map, for the hourly symbols (BTCUSDT, ETHUSDT), per window.

Samples alternate between what is compared, so a change in machine load hits both sides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from execsvc.bench.figures import Figure, Section, Target
from execsvc.bench.timing import medians_ms
from execsvc.liqmap import binning
from execsvc.liqmap.bands import cohort_slots
from execsvc.liqmap.cohorts import open_interest_at_close
from execsvc.liqmap.model import build_map, map_cohorts
from execsvc.liqmap.survival import suffix_min_low
from execsvc.maps.document import ModelDescription, encode_document
from execsvc.maps.refresh import candle_stats, fetch_snapshot, map_params
from execsvc.market.replay import ReplaySource
from execsvc.settings import Settings

WINDOW_CANDLES = 43_200


def bench_map_build(repeats: int = 30) -> Section:
    source = ReplaySource(speed=1.0, symbols=["BTC-PERP"])
    source.set_elapsed_ms(6 * 3_600_000)  # past the 30-day warm-up
    snapshot = asyncio.run(fetch_snapshot(source, source.symbols()[0], 31 * 86_400))
    total = len(snapshot.candles)
    if total < WINDOW_CANDLES:
        raise RuntimeError(f"the bundled FTX month gave only {total} one-minute candles")
    candles = snapshot.candles.slice(total - WINDOW_CANDLES, total)
    params = map_params(Settings(_env_file=None))
    price, now_ms = snapshot.price, snapshot.now_ms

    def build() -> object:
        return build_map(candles, None, snapshot.brackets, price, now_ms, params)

    liq_map = build()
    cohorts = map_cohorts(candles, None, snapshot.brackets, price, now_ms, params)
    slots = cohort_slots(cohorts.grid, cohorts.ratios, cohorts.entry, cohorts.is_long).ravel()
    slots = slots.copy()
    weights = binning.surviving_weights(cohorts.ratios, cohorts.is_long, cohorts.entry,
                                        cohorts.base, cohorts.rows, cohorts.low, cohorts.high,
                                        price).ravel().copy()
    slot_count = len(cohorts.ratios) * (cohorts.grid.n_bins + 2)
    random_slots = np.random.default_rng(7).integers(0, cohorts.grid.n_bins, slots.size)
    ms = medians_ms({
        "build": build,
        "suffix_min": lambda: suffix_min_low(cohorts.low, price),
        "bincount": lambda: np.bincount(slots, weights=weights, minlength=slot_count),
        "cumsum": lambda: np.cumsum(liq_map.long_notional),
        "random": lambda: np.bincount(random_slots, weights=weights,
                                      minlength=cohorts.grid.n_bins),
    }, repeats)
    floor = ms["suffix_min"] + ms["bincount"] + ms["cumsum"]
    same = float(np.mean(slots[1:] == slots[:-1]))
    return Section(
        key="map",
        title=(f"map build: {len(candles):,} one-minute candles (FTX BTC-PERP, 30 days) x "
               f"{len(cohorts.leverages)} leverages x 2 sides = {slots.size:,} cohorts into "
               f"{cohorts.grid.n_bins} bands; service model parameters; kernel "
               f"{binning.KERNEL}; medians of {repeats}"),
        figures=[
            Figure("build_map", ms["build"], "ms", Target("<=", 10.0)),
            Figure("build_map / floor", ms["build"] / floor, "x", Target("<=", 1.5),
                   note=f"floor {floor:.3f} ms = suffix min of lows {ms['suffix_min']:.3f} + "
                        f"bincount of the model's cohort slots {ms['bincount']:.3f} + cumsum "
                        f"{ms['cumsum']:.4f}; {same:.0%} of consecutive cohorts share a slot"),
            Figure("build_map / bincount of random slots", ms["build"] / ms["random"], "x",
                   Target("<=", 5.0), note=f"{slots.size:,} random slots: {ms['random']:.3f} ms"),
        ],
    )


def bench_documents(repeats: int = 100) -> Section:
    params = map_params(Settings(_env_file=None))
    model = ModelDescription.of(params)
    source = ReplaySource(speed=1.0, symbols=["BTCUSDT", "ETHUSDT"], clock=lambda: 0.0)
    functions: dict[str, Callable[[], object]] = {}
    for info in source.symbols():
        snapshot = asyncio.run(fetch_snapshot(source, info, 31 * 86_400))
        stats = candle_stats(snapshot.candles, snapshot.now_ms)
        for days in (1, 7, 30):
            candles = snapshot.candles.since(snapshot.now_ms - days * 86_400_000)
            oi = snapshot.open_interest
            oi_at_close = open_interest_at_close(candles.open_time_ms, candles.interval_ms,
                                                 oi.time_ms, oi.oi_quote)
            arguments = (candles, oi_at_close, snapshot.brackets, snapshot.price,
                         snapshot.now_ms, params)
            liq_map = build_map(*arguments)
            functions[f"build {days}d {info.symbol}"] = (
                lambda arguments=arguments: build_map(*arguments))
            functions[f"encode {days}d {info.symbol}"] = (
                lambda liq_map=liq_map, info=info, days=days, stats=stats: encode_document(
                    liq_map, exchange=info.exchange, symbol=info.symbol, window=f"{days}d",
                    quote_currency=info.quote_currency, params=params, stats=stats,
                    model=model))
    ms = medians_ms(functions, repeats)
    figures = []
    for days in (30, 7, 1):
        build = sum(v for k, v in ms.items() if k.startswith(f"build {days}d "))
        encode = sum(v for k, v in ms.items() if k.startswith(f"encode {days}d "))
        figures += [
            Figure(f"encode_document / build_map, {days}d", encode / build, "x",
                   Target("<", 1.0) if days == 30 else None,
                   note=f"per map: encode {encode / 2:.3f} ms, build {build / 2:.3f} ms"),
        ]
    return Section(
        key="documents",
        title=("document encoding (JSON bytes, head, history snapshot of one map) against "
               "build_map of the same map: hourly symbols BTCUSDT and ETHUSDT (Binance candles, "
               f"Hyperliquid open interest), service model parameters; medians of {repeats}"),
        figures=figures,
        notes=["the target is the issue's case, the 30-day map of an hourly symbol; shorter "
               "windows build smaller maps while the document keeps its 400 bands"],
    )
