"""The map document: what the worker stores, `/map/{symbol}` returns, the charts draw and
`execsvc map --json` prints; typed here once (`MapDocument`) with what is read from it, and
`EncodedDocument`, the stored bytes with the fields read without parsing them.

Money fields end in `_quote` (quote currency, `quote_currency`, e.g. USDT); distances in `_pct`
are percent of the current price; `bin_width_bps` is basis points; times in epoch ms (`_ms`)
or ISO-8601 UTC. `execsvc.maps.document` encodes documents from the model's `LiquidationMap`;
the store adds `version`/`computed_at_ms`, the API `age_s`/`stale`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NotRequired

from typing_extensions import TypedDict

from execsvc.domain.units import PositionSide, iso_utc


class Band(TypedDict):
    """One price band: `[price_low, price_high)` and the notional that would be liquidated in
    it; `notional_by_leverage_quote` follows the document's `leverages`; the cumulative
    figures sum the bands from the price out to this one."""

    price_low: float
    price_high: float
    long_notional_quote: float
    short_notional_quote: float
    notional_by_leverage_quote: list[float]
    cum_long_notional_quote: float
    cum_short_notional_quote: float
    intensity: float


class ClusterDoc(TypedDict):
    """A peak of the smoothed band profile: its extent, peak, notional and rank (1 = largest);
    `distance_pct` from the price to its near edge."""

    side: PositionSide
    price_low: float
    price_high: float
    peak_price: float
    notional_quote: float
    intensity: float
    distance_pct: float
    rank: int
    notional_by_venue_quote: NotRequired[dict[str, float]]


class Totals(TypedDict):
    long_notional_quote: float
    short_notional_quote: float
    out_of_range_long_quote: float
    out_of_range_short_quote: float


class Assumptions(TypedDict, total=False):
    """The model's inputs: the formula, representative size, the configured and the effective
    leverage mix (after venue caps and cross margin), and the v2 switches
    (`liqmap.model.model_parameters`)."""

    liquidation_formula: str
    position_notional_quote: float
    leverage_mix: dict[str, float]
    effective_leverage_mix: dict[str, float]
    oi_units: str
    stock_half_life_h: float
    cap_leverage_to_venue: bool
    cross_share: float
    cross_margin_multiple: float
    side_split: str
    churn_rate_per_day: float
    funding_crowding: float


class Churn(TypedDict):
    """Same-day churn: positions opened (and liquidated) within the coming day, quote, with the
    liquidation ratio (LP / entry) of each leverage for reading with a day's range."""

    rate_per_day: float
    opened_per_side_quote: float
    long_share: float
    opened_long_quote: float
    opened_short_quote: float
    leverage_weights: list[float]
    long_liquidation_ratio: list[float]
    short_liquidation_ratio: list[float]


class CandleStats(TypedDict):
    """Volatility figures advice reads (recent candles, any window) and the data lag: how long
    before the source's clock the newest candle closed."""

    last_candle_open_ms: int
    data_lag_s: float
    candle_interval_s: float
    atr_quote: float
    atr_pct: float
    sigma_quote_per_sqrt_s: NotRequired[float]
    volume_rate_base_per_s: NotRequired[float]


class PrecisionDoc(TypedDict):
    """The symbol's exchange grid (`domain.units.MarketPrecision`): tick (quote per base),
    lot step (base units) and where they come from."""

    tick_size: float
    lot_size: float
    source: str


AGGREGATE_EXCHANGE = "all"
"""The exchange key of the maps summed across venues (`liqmap.aggregate`)."""


class VenueStatus(TypedDict):
    """One venue of an aggregated map: whether its map is in the sum, its totals on the
    common grid (quote; null when it is not in the sum), its mark, how old its data is
    (`data_end_ms`, `data_lag_s` as in `CandleStats`; null when it failed) and, when it was
    dropped, why (`stale` with the reason of `stale_reason`, or the failure)."""

    exchange: str
    included: bool
    long_notional_quote: float | None
    short_notional_quote: float | None
    price: float | None
    data_end_ms: int | None
    data_lag_s: float | None
    stale: bool
    reason: str | None


class DroppedVenue(TypedDict):
    exchange: str
    reason: str


class MapHead(TypedDict):
    """Every field of a map document but its `bands`: what summaries, notices and freshness
    read. `version`, `computed_at`, `computed_at_ms`, `age_s` and `stale` are set once it is
    stored and served. An aggregated map (`exchange` = `all`) adds `venues` (every configured
    venue of the symbol), `dropped` (those left out of the sum, with the reason) and
    `stats_exchange` (the venue whose `stats`, `precision` and book advice reads)."""

    exchange: str
    symbol: str
    window: str
    model: Literal["oi_delta", "volume_proxy"]
    model_version: str
    quote_currency: str
    price: float
    data_end: str
    data_end_ms: int
    candles_used: int
    bin_width_bps: float
    range_pct: float
    leverages: list[float]
    totals: Totals
    assumptions: Assumptions
    churn: Churn
    clusters: list[ClusterDoc]
    stats: CandleStats
    precision: PrecisionDoc | None
    venues: NotRequired[list[VenueStatus]]
    dropped: NotRequired[list[DroppedVenue]]
    stats_exchange: NotRequired[str]
    version: NotRequired[int]
    computed_at: NotRequired[str]
    computed_at_ms: NotRequired[int]
    age_s: NotRequired[float]
    stale: NotRequired[bool]


class MapDocument(MapHead):
    """One (exchange, symbol, window) map (in JSON, `bands` stands between `clusters` and
    `stats`, `precision` comes after them). An aggregated map ends with
    `notional_by_venue_quote`: per included venue, its notional in each band (quote, in the
    order of `bands`), which sum to the band's."""

    bands: list[Band]
    notional_by_venue_quote: NotRequired[dict[str, list[float]]]


class ClusterSummary(TypedDict):
    side: PositionSide
    price_low: float
    price_high: float
    notional_quote: float
    intensity: float


class MapSummary(TypedDict):
    """The compact summary in pub/sub notices and server-sent events."""

    exchange: str
    symbol: str
    window: str
    model: str
    price: float
    data_end: str
    top_clusters: list[ClusterSummary]


class HistorySnapshot(TypedDict):
    """The band grid at data time `t_ms`: `low`, `width` (quote per base) and one value per
    band (long + short notional, quote, whole units), for the heatmap over time."""

    t_ms: int
    price: float
    low: float
    width: float
    values: list[int]


class Freshness(TypedDict):
    """How old a served map is; `stale` by `stale_reason`."""

    version: int
    computed_at: str
    computed_at_ms: int
    age_s: float
    stale: bool


def map_summary(document: MapHead) -> MapSummary:
    top = document["clusters"][:3]
    return {
        "exchange": document["exchange"],
        "symbol": document["symbol"],
        "window": document["window"],
        "model": document["model"],
        "price": document["price"],
        "data_end": document["data_end"],
        "top_clusters": [
            {"side": c["side"], "price_low": c["price_low"], "price_high": c["price_high"],
             "notional_quote": c["notional_quote"], "intensity": c["intensity"]}
            for c in top
        ],
    }


@dataclass(frozen=True, slots=True)
class EncodedDocument:
    """A map document as the worker stores it and the API can serve it: `json`, the whole
    document as UTF-8 JSON; `head`, its fields but the bands; `history`, its heatmap snapshot.
    Readers of the head and the history never parse `json` back."""

    head: MapHead
    json: bytes
    history: HistorySnapshot



class UnknownLeverage(ValueError):
    """A leverage the map does not have; the message names the ones it has."""


def leverage_indices(available: Sequence[float], wanted: Sequence[float] | None) -> list[int]:
    """Indices of `wanted` in a document's `leverages` (all when `wanted` is empty or None),
    sorted; UnknownLeverage names a missing one."""
    if not wanted:
        return list(range(len(available)))
    indices: set[int] = set()
    for value in wanted:
        matches = [i for i, lev in enumerate(available) if abs(lev - value) < 1e-9]
        if not matches:
            have = ", ".join(f"{v:g}x" for v in available)
            raise UnknownLeverage(f"leverage {value:g} is not in this map ({have})")
        indices.update(matches)
    return sorted(indices)


StaleReason = Literal["map_stale", "data_stale"]


def data_lag_exceeded(
    data_lag_s: float | None, candle_interval_s: float, max_map_age_s: float
) -> bool:
    """True when the newest candle is more than three candle intervals plus `max_map_age_s`
    behind the source's clock: the market data stopped, however recently the map was
    recomputed."""
    return data_lag_s is not None and data_lag_s > 3 * candle_interval_s + max_map_age_s


def stale_reason(
    age_s: float, data_lag_s: float | None, candle_interval_s: float, max_map_age_s: float
) -> StaleReason | None:
    """The one staleness rule: `map_stale` when the map was computed more than
    `max_map_age_s` ago (the worker stopped refreshing it), `data_stale` when its data lags
    (`data_lag_exceeded`), else None."""
    if age_s > max_map_age_s:
        return "map_stale"
    if data_lag_exceeded(data_lag_s, candle_interval_s, max_map_age_s):
        return "data_stale"
    return None


def document_stale_reason(document: MapDocument, age_s: float,
                          max_map_age_s: float) -> StaleReason | None:
    """`stale_reason` with the lag figures of the document's `stats`."""
    stats = document.get("stats") or {}
    return stale_reason(age_s, stats.get("data_lag_s"), float(stats.get("candle_interval_s", 0.0)),
                        max_map_age_s)


def freshness_fields(version: int, computed_at_ms: int, now_ms: float,
                     data_lag_s: float | None, candle_interval_s: float,
                     max_map_age_s: float) -> Freshness:
    """The freshness of a stored map from its version, time (epoch ms) and lag figures
    (`stale_reason`), as `now_ms` sees it."""
    age = max(0.0, (now_ms - computed_at_ms) / 1000.0)
    return {
        "version": version,
        "computed_at": iso_utc(computed_at_ms),
        "computed_at_ms": computed_at_ms,
        "age_s": round(age, 3),
        "stale": stale_reason(age, data_lag_s, candle_interval_s, max_map_age_s) is not None,
    }


def freshness(document: MapDocument, version: int, computed_at_ms: int, now_ms: float,
              max_map_age_s: float) -> Freshness:
    """`freshness_fields` with the lag figures of the document's `stats`."""
    stats = document.get("stats") or {}
    return freshness_fields(version, computed_at_ms, now_ms, stats.get("data_lag_s"),
                            float(stats.get("candle_interval_s", 0.0)), max_map_age_s)
