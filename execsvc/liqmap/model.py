"""The liquidation map: cohorts -> survival -> bands -> clusters (README.md, "How the map is
estimated").

`build_map` is pure: arrays in, a `LiquidationMap` out. Cohort groups are the (side, leverage)
pairs; a group's liquidation price is a fixed ratio of the entry price (see
`margin.liquidation_price_ratio`), so survival and binning are one pass over the cohorts
(`binning.bin_surviving`), with no Python loop over candles.

Assumption on position size: liquidation prices are those of a representative position of
`position_notional_quote` (default 10,000 quote), which selects the maintenance bracket.

Model v2 (`MapParams`, each switch measured in docs/evaluation.md):
- `oi_units="base"`: open interest is differenced in base units (`OI_quote / close` at each
  sample), so a price move no longer reads as opened positions; a cohort's notional is its base
  amount at its entry price.
- `stock_half_life_h > 0`: the open interest at the window's start is placed on the candles
  before the window (`stock`), so the map covers all open interest, not only what the window
  added.
- `churn_rate_per_day`: positions opened and liquidated inside the coming day (`churn`), a
  share of the open interest per day, stated in the document for readers of the map.
- `cap_leverage_to_venue`: the leverage mix is capped at the venue's maximum leverage for the
  representative position (the bracket's `max_leverage`); `cross_share` of every leverage is
  priced as cross margin (`leverage.effective_leverage_mix`).
- `side_split="funding"`: the long share of new positions (and of the churn) follows the
  funding rate known when they were opened (`liqmap.funding`, weight `funding_crowding`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from execsvc.domain.brackets import Bracket, max_leverage_for
from execsvc.liqmap import cohorts, stock, survival
from execsvc.liqmap.bands import BandGrid, cumulative_outward, relative_intensity
from execsvc.liqmap.binning import bin_surviving
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.clusters import Cluster, find_clusters
from execsvc.liqmap.funding import FundingRates, long_share_at
from execsvc.liqmap.leverage import effective_leverage_mix
from execsvc.liqmap.margin import liquidation_price_ratio

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
    oi_units: Literal["quote", "base"] = "quote"
    stock_half_life_h: float = 0.0
    cap_leverage_to_venue: bool = False
    cross_share: float = 0.0
    cross_margin_multiple: float = 2.0
    side_split: Literal["aggressor", "even", "funding"] = "aggressor"
    churn_rate_per_day: float = 0.0
    funding_crowding: float = 0.0

    @property
    def stock_lookback_ms(self) -> int:
        """How far before the window the stock's entries are spread: four half-lives (94 % of
        the age weight), 0 without a stock."""
        return int(4 * self.stock_half_life_h * 3_600_000)

    def leverage_mix_for(self, brackets: Sequence[Bracket]) -> dict[float, float]:
        """The isolated-equivalent leverage mix used with this venue's `brackets`."""
        cap = (max_leverage_for(brackets, self.position_notional_quote)
               if self.cap_leverage_to_venue else math.inf)
        return effective_leverage_mix(self.leverage_mix, cap, self.cross_share,
                                      self.cross_margin_multiple)


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
    long_ratios: np.ndarray = field(default_factory=lambda: np.empty(0))
    short_ratios: np.ndarray = field(default_factory=lambda: np.empty(0))
    leverage_weights: np.ndarray = field(default_factory=lambda: np.empty(0))
    open_interest_quote: float = math.nan
    churn_long_share: float = 0.5


MODEL_GENERATION = 2
"""Bumped when the model's structure changes; `model_version` adds a digest of the parameters."""


def model_parameters(params: MapParams) -> dict[str, object]:
    """The v2 switches and free parameters (JSON-ready), as documents and `/model` state them;
    `funding_crowding` only with the funding side split (it means nothing otherwise)."""
    described: dict[str, object] = {
        "oi_units": params.oi_units,
        "stock_half_life_h": params.stock_half_life_h,
        "cap_leverage_to_venue": params.cap_leverage_to_venue,
        "cross_share": params.cross_share,
        "cross_margin_multiple": params.cross_margin_multiple,
        "side_split": params.side_split,
        "churn_rate_per_day": params.churn_rate_per_day,
    }
    if params.side_split == "funding":
        described["funding_crowding"] = params.funding_crowding
    return described


def model_version(params: MapParams) -> str:
    """`<generation>.<digest>`: the digest (8 hex) of the leverage mix, representative size and
    `model_parameters`, so two maps with the same version come from the same model."""
    described = {
        "leverage_mix": sorted((float(k), round(float(v), 9))
                               for k, v in params.leverage_mix.items()),
        "position_notional_quote": params.position_notional_quote,
        "formula": params.formula,
        **model_parameters(params),
    }
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
    return f"{MODEL_GENERATION}.{digest[:8]}"


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


@dataclass(frozen=True, slots=True)
class _Opened:
    """Each window candle's opened notional (quote) times the fraction still open, and the
    stock's (the open interest at the window's start) state: base or quote amount and the
    fraction of it still open now."""

    model: Model
    notional: np.ndarray
    stock_amount: float = math.nan
    stock_open_fraction: float = 1.0


def _opened_and_surviving(
    candles: Candles, oi_at_close: np.ndarray | None, entry: np.ndarray, now_ms: int,
    oi_before: float, params: MapParams, close_before: float,
) -> _Opened:
    close_ms = candles.open_time_ms + candles.interval_ms
    if oi_at_close is None or np.isfinite(oi_at_close).sum() < 2:
        opened = cohorts.opened_notional_from_volume(candles.volume, entry)
        return _Opened("volume_proxy", opened * survival.proxy_decay_factor(close_ms, now_ms))
    if params.oi_units == "base":
        oi = oi_at_close / candles.close
        before = oi_before / close_before
        per_unit = entry
    else:
        oi, before, per_unit = oi_at_close, oi_before, 1.0
    shrink = survival.oi_shrink_factor(np.concatenate(([before], oi)))
    opened = cohorts.opened_notional_from_oi(oi, before) * per_unit
    return _Opened("oi_delta", opened * shrink[1:], float(before), float(shrink[0]))


def _long_share(candles: Candles, params: MapParams,
                funding: FundingRates | None) -> np.ndarray:
    """Long share of each candle's new positions: the aggressor estimate (`cohorts.long_share`);
    with `side_split="even"`, one half (every contract has a long and a short holder); with
    `"funding"`, from the funding known at the candle's close (`funding.long_share_at`)."""
    if params.side_split == "even":
        return np.full(len(candles), 0.5)
    if params.side_split == "funding":
        return long_share_at(funding, candles.open_time_ms + candles.interval_ms,
                             params.funding_crowding)
    return cohorts.long_share(candles.open, candles.high, candles.low, candles.close,
                              candles.volume, candles.taker_buy_volume)


def _stock_base(
    history: Candles, ratios: np.ndarray, is_long: np.ndarray, opened: _Opened,
    params: MapParams, start_ms: int, funding: FundingRates | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Entry prices of the history candles and the stock's notional per (group, candle)."""
    entry = cohorts.typical_price(history.high, history.low, history.close)
    share = _long_share(history, params, funding)
    weights = stock.age_weights(history.open_time_ms + history.interval_ms, start_ms,
                                params.stock_half_life_h)
    fractions = stock.stock_fractions(ratios, is_long, entry, share, history.low, history.high,
                                      float(history.close[-1]), weights)
    per_candle = entry if params.oi_units == "base" else np.ones_like(entry)
    notional = fractions * per_candle[None, :] * opened.stock_amount * opened.stock_open_fraction
    return entry, notional


@dataclass(frozen=True, slots=True)
class MapCohorts:
    """Every (group, candle) cohort of a map, ready for `binning.bin_surviving`: group g (longs
    by leverage, then shorts) has the liquidation price `ratios[g] * entry[i]` and the notional
    `base[rows[g], i]` (quote); `low`/`high` are the candles' extremes (the stock's history
    first, when there is one). `leverage_weights` are the groups' shares of a side."""

    model: Model
    grid: BandGrid
    leverages: np.ndarray
    ratios: np.ndarray
    is_long: np.ndarray
    leverage_weights: np.ndarray
    entry: np.ndarray
    base: np.ndarray
    rows: np.ndarray
    low: np.ndarray
    high: np.ndarray


def map_cohorts(
    candles: Candles,
    oi_at_close: np.ndarray | None,
    brackets: Sequence[Bracket],
    price: float,
    now_ms: int,
    params: MapParams,
    oi_before: float = np.nan,
    history: Candles | None = None,
    funding: FundingRates | None = None,
) -> MapCohorts:
    """The cohorts `build_map` bins (arguments as there)."""
    if not np.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a positive finite number, got {price}")
    grid = BandGrid.around(price, params.bin_width_bps, params.range_pct)
    mix = params.leverage_mix_for(brackets)
    ratios, is_long, lev_weight = _group_ratios(
        tuple(mix.items()), params.position_notional_quote, tuple(brackets), params.formula,
    )
    has_history = history is not None and len(history) > 0
    close_before = float(history.close[-1]) if has_history else float(candles.open[0])
    entry = cohorts.typical_price(candles.high, candles.low, candles.close)
    opened = _opened_and_surviving(candles, oi_at_close, entry, now_ms, oi_before, params,
                                   close_before)
    share = _long_share(candles, params, funding)
    long_base = opened.notional * share
    base = np.stack((long_base, opened.notional - long_base))
    rows = np.where(is_long, 0, 1)
    low, high = candles.low, candles.high
    with_stock = (params.stock_half_life_h > 0 and has_history and opened.model == "oi_delta"
                  and np.isfinite(opened.stock_amount) and opened.stock_amount > 0)
    if with_stock:
        stock_entry, stock_notional = _stock_base(
            history, ratios, is_long, opened, params, int(candles.open_time_ms[0]), funding)
        entry = np.concatenate((stock_entry, entry))
        base = np.concatenate((stock_notional, base[rows]), axis=1)
        rows = np.arange(len(ratios))
        low = np.concatenate((history.low, low))
        high = np.concatenate((history.high, high))
    return MapCohorts(opened.model, grid, np.array(list(mix), dtype=np.float64), ratios,
                      is_long, lev_weight, entry, base, rows, low, high)


def build_map(
    candles: Candles,
    oi_at_close: np.ndarray | None,
    brackets: Sequence[Bracket],
    price: float,
    now_ms: int,
    params: MapParams | None = None,
    oi_before: float = np.nan,
    history: Candles | None = None,
    funding: FundingRates | None = None,
) -> LiquidationMap:
    """Build the map from a window of candles (oldest first) and, optionally, the open interest
    (quote) at each candle's close, and `oi_before` the OI at the close of the candle before
    the window (so the first candle's new positions count too). `price` is the current mark.
    `history`: candles before the window (oldest first, ending where the window starts), where
    the stock's entries are placed when `params.stock_half_life_h > 0`. `funding`: the funding
    samples known by `now_ms`, read with `side_split="funding"`."""
    params = params or MapParams()
    found = map_cohorts(candles, oi_at_close, brackets, price, now_ms, params, oi_before,
                        history, funding)
    grid, ratios, lev_weight = found.grid, found.ratios, found.leverage_weights
    n_lev = len(found.leverages)
    binned = bin_surviving(grid, ratios, found.is_long, found.entry, found.base, found.rows,
                           found.low, found.high, price)
    by_group = binned.by_group * lev_weight[:, None]

    by_leverage = by_group[:n_lev] + by_group[n_lev:]
    long_notional = by_group[:n_lev].sum(axis=0)
    short_notional = by_group[n_lev:].sum(axis=0)
    cum_long, cum_short = cumulative_outward(long_notional, short_notional, grid.n_side)
    return LiquidationMap(
        model=found.model,
        price=float(price),
        grid=grid,
        leverages=found.leverages,
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
        long_ratios=ratios[:n_lev].copy(),
        short_ratios=ratios[n_lev:].copy(),
        leverage_weights=lev_weight[:n_lev].copy(),
        open_interest_quote=_last_finite(oi_at_close),
        churn_long_share=_churn_long_share(params, funding, now_ms),
    )


def _churn_long_share(params: MapParams, funding: FundingRates | None, now_ms: int) -> float:
    """Long share of the coming day's churn: from the funding known now with the funding split,
    else one half."""
    if params.side_split != "funding":
        return 0.5
    return float(long_share_at(funding, np.array([now_ms]), params.funding_crowding)[0])


def _last_finite(values: np.ndarray | None) -> float:
    """The newest finite value (the open interest now), NaN when there is none."""
    if values is None:
        return math.nan
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if len(finite) else math.nan
