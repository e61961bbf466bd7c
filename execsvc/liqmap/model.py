"""The liquidation map: cohorts -> survival -> bands -> clusters (DESIGN.md section 3).

`build_map` is pure: arrays in, a `LiquidationMap` out. Cohort groups are the (side, leverage)
pairs; a group's liquidation price is a fixed ratio of the entry price (see
`margin.liquidation_price_ratio`), so the whole map is a handful of array passes and one
`np.bincount`, with no Python loop over candles.

Assumption on position size: liquidation prices are those of a representative position of
`position_notional_quote` (default 10,000 quote), which selects the maintenance bracket.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from execsvc.liqmap import cohorts, survival
from execsvc.liqmap.bands import BandGrid, bin_cohorts, cumulative_outward, relative_intensity
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.clusters import Cluster, find_clusters
from execsvc.liqmap.margin import Bracket, liquidation_price_ratio
from execsvc.liqmap.scratch import work_array

Model = Literal["oi_delta", "volume_proxy"]


@dataclass(frozen=True, slots=True)
class MapParams:
    leverage_mix: Mapping[float, float] = field(
        default_factory=lambda: {10.0: 0.35, 25.0: 0.3, 50.0: 0.2, 100.0: 0.15}
    )
    position_notional_quote: float = 10_000.0
    bin_width_bps: float = 10.0
    range_pct: float = 20.0
    formula: str = "binance"
    min_peak_fraction: float = 0.05


@dataclass(frozen=True, slots=True)
class LiquidationMap:
    """Estimated liquidation notional (quote) per price band; see the module docstring.

    Band arrays have one entry per band. `by_leverage[j]` belongs to `leverages[j]`.
    `out_of_range_*` is surviving notional whose liquidation price lies beyond the grid.
    """

    model: Model
    price: float
    grid: BandGrid
    leverages: np.ndarray
    long_notional: np.ndarray
    short_notional: np.ndarray
    by_leverage: np.ndarray
    cum_long: np.ndarray
    cum_short: np.ndarray
    intensity: np.ndarray
    clusters: list[Cluster]
    out_of_range_long: float
    out_of_range_short: float
    candles_used: int
    data_end_ms: int


@functools.lru_cache(maxsize=256)
def _group_ratios(
    leverage_mix: tuple[tuple[float, float], ...],
    position_notional_quote: float,
    brackets: tuple[Bracket, ...],
    formula: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (longs by leverage, then shorts): LP/EP ratio, is-long flag, leverage weight."""
    leverages = [lev for lev, _ in leverage_mix]
    weights = np.array([w for _, w in leverage_mix], dtype=np.float64)
    ratios = [
        liquidation_price_ratio(side, lev, position_notional_quote, brackets, formula)
        for side in ("long", "short")
        for lev in leverages
    ]
    is_long = np.repeat([True, False], len(leverages))
    return np.array(ratios), is_long, np.tile(weights / weights.sum(), 2)


def _alive_weights(
    ratios: np.ndarray, is_long: np.ndarray, entry: np.ndarray, long_base: np.ndarray,
    short_base: np.ndarray, candles: Candles, price: float,
) -> np.ndarray:
    """`weight[g, i]`: side notional of candle i if group g's cohort survives, else 0.

    A long survives while `ratio * entry < suffix_min_low`, i.e. `ratio < suffix_min_low / entry`
    (shorts mirror with the suffix max), so the test needs no liquidation-price array.
    """
    n_long = int(is_long.sum())
    weight = work_array("weight", (len(ratios), len(entry)))
    long_limit = survival.suffix_min_low(candles.low, price) / entry
    short_limit = survival.suffix_max_high(candles.high, price) / entry
    np.multiply(ratios[:n_long, None] < long_limit, long_base, out=weight[:n_long])
    np.multiply(ratios[n_long:, None] > short_limit, short_base, out=weight[n_long:])
    return weight


def _opened_and_surviving(
    candles: Candles, oi_at_close: np.ndarray | None, entry: np.ndarray, now_ms: int,
    oi_before: float,
) -> tuple[Model, np.ndarray]:
    """Model used, and each candle's opened notional times the fraction still open."""
    close_ms = candles.open_time_ms + candles.interval_ms
    if oi_at_close is not None and np.isfinite(oi_at_close).sum() >= 2:
        opened = cohorts.opened_notional_from_oi(oi_at_close, oi_before)
        return "oi_delta", opened * survival.oi_shrink_factor(oi_at_close)
    opened = cohorts.opened_notional_from_volume(candles.volume, entry)
    return "volume_proxy", opened * survival.proxy_decay_factor(close_ms, now_ms)


def build_map(
    candles: Candles,
    oi_at_close: np.ndarray | None,
    brackets: Sequence[Bracket],
    price: float,
    now_ms: int,
    params: MapParams | None = None,
    oi_before: float = np.nan,
) -> LiquidationMap:
    """Build the map from a window of candles (oldest first) and, optionally, the open interest
    (quote) at each candle's close, and `oi_before` the OI at the close of the candle before
    the window (so the first candle's new positions count too). `price` is the current mark."""
    params = params or MapParams()
    if not np.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a positive finite number, got {price}")
    grid = BandGrid.around(price, params.bin_width_bps, params.range_pct)
    ratios, is_long, lev_weight = _group_ratios(
        tuple(sorted(params.leverage_mix.items())), params.position_notional_quote,
        tuple(brackets), params.formula,
    )
    n_lev = len(params.leverage_mix)

    entry = cohorts.typical_price(candles.high, candles.low, candles.close)
    model, open_notional = _opened_and_surviving(candles, oi_at_close, entry, now_ms, oi_before)
    share = cohorts.long_share(
        candles.open, candles.high, candles.low, candles.close,
        candles.volume, candles.taker_buy_volume,
    )
    long_base = open_notional * share
    weight = _alive_weights(
        ratios, is_long, entry, long_base, open_notional - long_base, candles, price
    )
    binned = bin_cohorts(grid, ratios, entry, weight, is_long)
    by_group = binned.by_group * lev_weight[:, None]

    by_leverage = by_group[:n_lev] + by_group[n_lev:]
    long_notional = by_group[:n_lev].sum(axis=0)
    short_notional = by_group[n_lev:].sum(axis=0)
    cum_long, cum_short = cumulative_outward(long_notional, short_notional, grid.n_side)
    return LiquidationMap(
        model=model,
        price=float(price),
        grid=grid,
        leverages=np.array(sorted(params.leverage_mix), dtype=np.float64),
        long_notional=long_notional,
        short_notional=short_notional,
        by_leverage=by_leverage,
        cum_long=cum_long,
        cum_short=cum_short,
        intensity=relative_intensity(long_notional + short_notional),
        clusters=find_clusters(grid, long_notional, short_notional, params.min_peak_fraction),
        out_of_range_long=float(binned.below[:n_lev] @ lev_weight[:n_lev]),
        out_of_range_short=float(binned.above[n_lev:] @ lev_weight[n_lev:]),
        candles_used=len(candles),
        data_end_ms=int(now_ms),
    )
