"""Request and response bodies, path and query parameters of the API: the one place their
shapes, bounds and units are declared.

Units are in the names: prices in quote per base, `quantity` in base units, `*_quote` in quote
currency, `*_pct` in percent, `*_bps` in basis points. Requests refuse unknown fields (and
unknown query parameters), NaN and infinities, so a typo or a broken client gets a 422 naming
the field. Every number's bounds come from `execsvc.api.bounds` (one type per kind of number).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from execsvc.api.bounds import (
    Fraction,
    HorizonSeconds,
    Leverage,
    LossPercent,
    PositionLeverage,
    Price,
    Quantity,
    QuoteAmount,
    RiskAversion,
)
from execsvc.domain.map_document import ClusterDoc, MapDocument, PrecisionDoc
from execsvc.domain.orders import Order, OrderStatus, OrderType, TimeInForce, order_to_json
from execsvc.domain.units import OrderSide, PositionSide, Window, without_float_noise
from execsvc.execution.stops import NoStop

SYMBOL_PATTERN = r"^[A-Za-z0-9._-]{1,40}$"
EXCHANGE_PATTERN = r"^[a-z0-9_]{1,40}$"

Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, examples=["BTCUSDT"])]
EXCHANGE_HELP = ("the map to read: `all` (the venues' maps summed) or one venue (e.g. "
                 "binanceusdm); default: `all` when the symbol has several venues, else its "
                 "venue")
Exchange = Annotated[str | None, Field(default=None, pattern=EXCHANGE_PATTERN,
                                       description=EXCHANGE_HELP)]

SymbolPath = Annotated[str, Path(pattern=SYMBOL_PATTERN, description="e.g. BTCUSDT")]
WindowQuery = Annotated[Window, Query(description="Lookback of position openings")]
ExchangeQuery = Annotated[str | None, Query(pattern=EXCHANGE_PATTERN,
                                            description=EXCHANGE_HELP)]
VenueQuery = Annotated[str | None, Query(pattern=EXCHANGE_PATTERN,
                                         description="default: the venue liquidations are "
                                         "ingested from")]
SymbolQuery = Annotated[str | None, Query(pattern=SYMBOL_PATTERN,
                                          description="Only this symbol's maps")]
PositionSideWord = Annotated[
    Literal["long", "short", "buy", "sell"],
    Field(description="the position's side: long or short, or the order that opened it (buy = "
          "long, sell = short)"),
]
MarginMode = Literal["isolated", "cross"]
LeverageQuery = Annotated[list[Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)]]
                          | None, Query(description="Only these leverages (repeat the "
                                        "parameter); default all", max_length=16)]


class StrictModel(BaseModel):
    """A request body: unknown fields, NaN, infinities and values of the wrong JSON type
    (`true` or `"2"` for a number) are refused (422)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True, strict=True)


class PositionFields(StrictModel):
    """The position advice protects: its side, entry and size, and (with `leverage`) its
    margin, which gives its liquidation price."""

    symbol: Symbol
    side: PositionSideWord
    entry_price: Price | None = Field(None, description="default: the map's price")
    quantity: Quantity | None = None
    leverage: PositionLeverage | None = Field(
        None, description="the position's leverage (20 = 20x); gives its liquidation price")
    margin_mode: MarginMode = Field(
        "isolated", description="isolated: the initial margin backs the position; cross: "
        "account_equity_quote does")
    account_equity_quote: QuoteAmount | None = Field(
        None, description="cross margin: the account's margin balance backing the position")
    window: Window = "7d"
    exchange: Exchange = None

    @field_validator("margin_mode")
    @classmethod
    def _cross_needs_leverage(cls, value: str, info: ValidationInfo) -> str:
        if value == "cross" and info.data.get("leverage") is None:
            raise ValueError("margin_mode 'cross' needs the position's leverage")
        return value

    @field_validator("account_equity_quote")
    @classmethod
    def _equity_is_cross(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("margin_mode") != "cross":
            raise ValueError("account_equity_quote applies to margin_mode 'cross' only")
        return value


class StopRequest(PositionFields):
    risk_quote: QuoteAmount | None = Field(
        None, validation_alias=AliasChoices("risk_quote", "risk_usd"),
        description="most the position may lose at the stop, in quote currency (alias "
        "risk_usd; give one of the two)",
    )
    max_loss_pct: LossPercent | None = Field(None, description="percent of entry")


class TakeProfitRequest(PositionFields):
    max_zones: int = Field(3, ge=1, le=10)


class MapRef(BaseModel):
    """The map an answer was computed on."""

    version: int
    age_s: float
    stale: bool
    exchange: str = Field(description="which map: `all` (the venues' sum) or the venue")


class Buffer(BaseModel):
    atr: float = Field(description="average true range of the map's candles, quote per base")
    atr_multiple: float
    buffer_quote: float = Field(description="atr * atr_multiple, quote per base")
    overshoot_pct: float = Field(description="cascade overshoot past the anchor cluster, %")


class ClusterRule(BaseModel):
    """Which clusters push a stop: own-side clusters at least this intense whose near edge lies
    within `reach_atr` ATRs (`reach_quote`) of the entry."""

    min_intensity: float
    reach_atr: float
    reach_quote: float


class Alternative(BaseModel):
    label: Literal["tight", "standard", "wide"]
    stop_price: float
    distance_pct: float
    basis: str = Field(description="how the level was placed")


class StopResponse(BaseModel):
    symbol: str
    side: PositionSide
    entry_price: float
    stop_price: float | None = Field(
        description="on the tick; null only when no level fits inside the liquidation price: "
        "it is at or beyond the entry (liquidated at once), nearer the entry than the gap, or "
        "every level inside it lies in the cluster the entry sits in (the rationale says which)")
    no_stop_reason: NoStop | None = Field(
        None, description="why `stop_price` is null, for a bot to act on (null when a stop is "
        "given): `liquidated_at_once` (the liquidation price is at or beyond the entry: the "
        "account does not carry the position), `within_gap` (the liquidation price is nearer "
        "the entry than the gap a stop needs before it), `entry_cluster` (every level inside "
        "it lies in the cluster the entry sits in); the rationale gives the remedy")
    distance_pct: float | None
    avoided_clusters: list[ClusterDoc]
    buffer: Buffer
    clusters_that_matter: ClusterRule
    alternatives: list[Alternative]
    fits_risk: bool = Field(description="the cluster-aware stop lies within max_loss_pct")
    fits_liquidation: bool = Field(description="the cluster-aware stop triggers before the "
                                   "position's liquidation price (true without a leverage)")
    cluster_aware_stop_price: float
    liquidation_price: float | None = Field(
        None, description="the position's liquidation price (with a leverage), on the tick "
        "toward the entry")
    suggested_leverage: float | None = Field(
        None, description="isolated: the largest whole leverage at which the cluster-aware "
        "stop lies inside the liquidation price")
    suggested_quantity: float | None = Field(None, description="base units, on the lot")
    loss_at_stop_quote: float | None = None
    rationale: str
    precision: PrecisionDoc
    book_source: str | None = Field(None, description="order book the cascade walked")
    map: MapRef


class Zone(BaseModel):
    price_low: float
    price_high: float
    target_price: float
    size_fraction: float
    quantity: float | None = Field(None, description="base units on the lot, when quantity "
                                   "was given; the zones' quantities sum to it exactly")
    cluster: ClusterDoc
    distance_pct: float


class TakeProfitResponse(BaseModel):
    symbol: str
    side: PositionSide
    entry_price: float
    zones: list[Zone] = Field(description="nearest first")
    liquidation_price: float | None = None
    rationale: str
    precision: PrecisionDoc
    map: MapRef


class SliceRequest(StrictModel):
    symbol: Symbol
    side: OrderSide
    quantity: Quantity
    horizon_s: HorizonSeconds = Field(description="seconds to complete the order")
    strategy: Literal["auto", "twap", "almgren_chriss", "pov"] = "auto"
    risk_aversion: RiskAversion | None = None
    max_participation: Fraction | None = Field(None, description="of traded volume")
    window: Window = "7d"
    exchange: Exchange = None


class ChildOut(BaseModel):
    t_offset_s: float
    quantity: float = Field(description="base units, whole lots; the children's lots sum "
                            "exactly to the order's")
    order_type: Literal["market", "limit"]
    limit_price: float | None = Field(None, description="on the tick")
    reason: str


class SliceSlippage(BaseModel):
    """Estimates in bps against the book's mid (positive = cost), all on the same book whose
    depth refills at the calibrated rate (`calibration.book_half_life_s`)."""

    plan_bps: float
    plan_if_limits_unfilled_bps: float
    market_order_bps: float
    market_order_extrapolated: bool = Field(
        description="one market order walks past the visible depth: its estimate rests on the "
        "book continued at its average density")
    twap_bps: float
    plan_timing_risk_quote: float = Field(
        description="std of the plan's cost from price moves while it runs, quote")
    twap_timing_risk_quote: float


class Calibration(BaseModel):
    eta: float = Field(description="temporary impact, quote*s/base^2")
    epsilon: float = Field(description="half-spread, quote per base")
    sigma_quote_per_sqrt_s: float
    volume_rate_base_per_s: float
    risk_aversion: float | None
    book_half_life_s: float = Field(description="how fast taken depth refills (half-life, s)")


class SliceResponse(BaseModel):
    symbol: str
    side: OrderSide
    quantity: float
    horizon_s: float
    strategy_used: str
    n_slices: int
    slice_interval_s: float
    children: list[ChildOut]
    slippage: SliceSlippage
    calibration: Calibration
    notes: list[str]
    precision: PrecisionDoc
    book_source: str
    map: MapRef


# ---- maps ---------------------------------------------------------------------------------------


class MapResponse(MapDocument):
    """`GET /map/{symbol}`: the stored map document with its version and freshness."""


class WindowStatus(BaseModel):
    version: int | None
    age_s: float | None
    stale: bool


class VenueMaps(BaseModel):
    """The maps of one exchange key (`all` or a venue): each window's state, the last error."""

    exchange: str
    windows: dict[str, WindowStatus]
    last_error: str | None


class SymbolStatus(VenueMaps):
    """A symbol, its default map (`exchange`, `windows`, `last_error`: the venues' sum `all`
    with several venues) and every venue's own maps."""

    symbol: str
    quote_currency: str | None
    has_open_interest: bool | None
    venues: list[VenueMaps]


class SymbolsResponse(BaseModel):
    symbols: list[SymbolStatus]


class StatusResponse(BaseModel):
    status: Literal["ok", "ready"]


class UiConfig(BaseModel):
    symbols: list[str]
    exchanges: dict[str, list[str]] = Field(
        description="per symbol, the maps to choose from: `all` (the venues' sum) first when "
        "it has several venues, then each venue; the first is the default")
    windows: list[str]
    default_window: str
    leverages: list[float]
    max_map_age_s: float
    refresh_interval_s: float


# ---- risk ---------------------------------------------------------------------------------------


class RiskCheckRequest(StrictModel):
    symbol: Symbol
    side: OrderSide
    quantity: Quantity
    price: Price | None = Field(None, description="limit price, quote per base")
    stop_price: Price | None = Field(
        None, description="stop trigger (type stop) or the stop protecting the position, "
        "quote per base")
    type: OrderType | None = Field(None, description="default: limit with a price, else market")
    leverage: Leverage = 10.0
    reduce_only: bool = False
    client_order_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    exchange: Exchange = None


class ViolationOut(BaseModel):
    code: str = Field(examples=["NOTIONAL_EXCEEDS_MAX"])
    rule: str = Field(description="the policy field, e.g. max_order_notional_quote")
    limit: float
    value: float
    unit: str = Field(description="unit of limit and value: quote currency, %, x, orders/min")
    severity: Literal["error", "warning"]
    message: str


class PolicyOut(BaseModel):
    name: str
    version: int | str


class RiskCheckResponse(BaseModel):
    allowed: bool
    max_quantity: float = Field(description="largest quantity (base units, whole lots) the "
                                "quantity rules allow for this order")
    violations: list[ViolationOut]
    policy: PolicyOut
    symbol: str
    mark_price: float
    map: MapRef


# ---- orders -------------------------------------------------------------------------------------


class OrderBody(StrictModel):
    client_order_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,36}$",
                                 description="your id; retries with the same id are safe")
    symbol: Symbol
    side: OrderSide
    type: OrderType
    quantity: Quantity
    price: Price | None = Field(None, description="limit price")
    stop_price: Price | None = Field(None, description="stop trigger")
    reduce_only: bool = False
    time_in_force: TimeInForce = "GTC"
    leverage: Leverage = 10.0
    exchange: Exchange = Field(None, description="the map the risk check reads: " + EXCHANGE_HELP)


class FillOut(BaseModel):
    quantity: float = Field(description="base units")
    price: float
    fee_quote: float
    liquidity: Literal["maker", "taker"]
    timestamp_ms: int


class OrderOut(BaseModel):
    """An order: the request's fields, its state and fills; `id` is the service's order id
    (the audit stream names the same id), `mode` paper or live."""

    id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: float = Field(description="base units")
    price: float | None
    stop_price: float | None
    reduce_only: bool
    time_in_force: TimeInForce
    leverage: float
    status: OrderStatus
    filled_quantity: float
    remaining_quantity: float
    average_price: float | None
    fees_quote: float
    created_at_ms: int
    updated_at_ms: int
    reason: str | None
    exchange_order_id: str | None
    fills: list[FillOut]
    mode: Literal["paper", "live"]
    risk_map_exchange: str | None = Field(
        None, description="the map the risk check of this request read: `all` (the venues' "
        "sum) or a venue; null on a retry answered with the stored order, and for a "
        "reduce-only order checked without a map")


def order_out(order: Order, mode: str) -> dict[str, Any]:
    """An order as `OrderOut` (the request's fields flattened into the order's), its sums and
    averages free of float noise; `risk_map_exchange` null (only the placing answer knows
    which map its risk check read)."""
    stored = order_to_json(order)
    return without_float_noise({
        "id": order.id,
        **stored.pop("request"),
        **{k: stored[k] for k in ("status", "filled_quantity", "average_price", "fees_quote",
                                  "created_at_ms", "updated_at_ms", "reason",
                                  "exchange_order_id")},
        "remaining_quantity": order.remaining_quantity,
        "fills": [{k: f[k] for k in ("quantity", "price", "fee_quote", "liquidity",
                                     "timestamp_ms")} for f in stored["fills"]],
        "mode": mode,
        "risk_map_exchange": None,
    })


class PositionOut(BaseModel):
    symbol: str
    side: PositionSide
    size: float = Field(description="base units, signed: long > 0, short < 0")
    entry_price: float
    leverage: float
    margin_quote: float
    liquidation_price: float | None
    realized_pnl_quote: float
    notional_at_entry_quote: float
    mark_price: float | None = Field(description="the book's mid, else the last price the "
                                     "worker stored; null only when no price was ever stored")
    mark_stale: bool = Field(False, description="the mark is the last known price and older "
                             "than MAX_MAP_AGE_S (the worker is not refreshing)")
    unrealized_pnl_quote: float


class PositionsResponse(BaseModel):
    positions: list[PositionOut]
    mode: Literal["paper", "live"]


class AccountResponse(BaseModel):
    """Wallet figures in quote currency; paper accounts report fees and realised PnL, live
    ones the exchange's margin balance and available funds."""

    model_config = ConfigDict(extra="allow")

    balance_quote: float
    unrealized_pnl_quote: float
    position_margin_quote: float
    fees_paid_quote: float | None = None
    realized_pnl_quote: float | None = None
    order_margin_quote: float | None = None
    margin_balance_quote: float | None = None
    available_quote: float | None = None
    mode: Literal["paper", "live"]


# ---- realised liquidations ------------------------------------------------------------------

EpochMsQuery = Annotated[int | None, Query(ge=0, le=2**53, description="epoch milliseconds")]
LiquidationLimit = Annotated[int, Query(ge=1, le=5000, description="events at most")]

SAMPLED_DESCRIPTION = ("whether the venue's public stream is a sample: Binance sends at most "
                       "one liquidation per symbol per second, so counts and totals are lower "
                       "bounds")


class LiquidationFeedHealth(BaseModel):
    exchange: str
    state: Literal["connecting", "connected", "reconnecting", "down"] = Field(
        description="`down`: the ingest has not reported for three heartbeats")
    since_ms: int = Field(description="when the feed entered its last reported state")
    heartbeat_age_s: float = Field(description="seconds since the ingest last reported")
    last_event_ms: int | None
    events: int = Field(description="events the running ingest has received")
    reconnects: int
    malformed: int = Field(description="frames and events skipped as malformed")
    last_error: str | None
    sampled: bool = Field(description=SAMPLED_DESCRIPTION)
    sampling_note: str | None


class CoverageGap(BaseModel):
    start_ms: int
    end_ms: int
    reason: str = Field(description="why nothing was received: disconnect, no ingest running")


class MapAtEvent(BaseModel):
    window: Window
    version: int
    computed_at_ms: int
    model_version: str
    price: float = Field(description="the map's price, quote per base")


class EventScoreDoc(BaseModel):
    band_index: int | None = Field(description="index in the map's bands; null outside them")
    band_percentile: float | None = Field(
        description="percentile of the band by predicted notional, (rank - 0.5) / n")
    in_top_decile: bool
    top_decile_width_share: float = Field(
        description="the top-decile bands' share of the map's range (a uniform map's chance)")
    predicted_side: PositionSide = Field(
        description="the side the map expects at this price: long below its price, short above")
    side_match: bool


class RealisedLiquidation(BaseModel):
    time_ms: int = Field(description="the venue's trade time, epoch ms")
    time: str = Field(description="the same, ISO-8601 UTC")
    side: PositionSide = Field(description="side of the liquidated position")
    price: float = Field(description="quote per base")
    quantity_base: float
    notional_quote: float
    event_id: str
    received_ms: int
    map: MapAtEvent | None = Field(description="the map the event was scored against")
    score: EventScoreDoc | None
    unscored_reason: Literal["no_map", "map_stale"] | None


class LiquidationsResponse(BaseModel):
    symbol: str
    exchange: str
    since_ms: int
    until_ms: int
    count: int
    truncated: bool = Field(description="more events matched: ask again from `next_since_ms`")
    next_since_ms: int | None
    feed: LiquidationFeedHealth
    gaps: list[CoverageGap] = Field(description="intervals of the window nothing was received")
    liquidations: list[RealisedLiquidation]


class CurrentMapRef(BaseModel):
    window: Window
    version: int
    computed_at_ms: int
    model_version: str
    price: float
    age_s: float
    stale: bool


class RealisedBand(BaseModel):
    price_low: float
    price_high: float
    predicted_long_notional_quote: float
    predicted_short_notional_quote: float
    realised_long_notional_quote: float
    realised_short_notional_quote: float
    realised_long_count: int
    realised_short_count: int


class RealisedTotals(BaseModel):
    realised_long_notional_quote: float
    realised_short_notional_quote: float
    realised_long_count: int
    realised_short_count: int
    below_range_long_notional_quote: float
    below_range_short_notional_quote: float
    above_range_long_notional_quote: float
    above_range_short_notional_quote: float


class LiquidationBandsResponse(BaseModel):
    symbol: str
    exchange: str
    map: CurrentMapRef = Field(description="the current map whose bands the events are put on")
    since_ms: int
    until_ms: int
    feed: LiquidationFeedHealth
    gaps: list[CoverageGap]
    totals: RealisedTotals
    bands: list[RealisedBand]


class OnlineScoreSymbol(BaseModel):
    events: int
    scored_events: int
    in_range_events: int
    realised_notional_quote: float
    in_range_share: float | None
    top_decile_share: float | None = Field(
        description="realised notional in the map's top-decile bands / realised notional in "
                    "its range")
    uniform_share: float | None = Field(
        description="what a uniform map would give: the top-decile bands' share of the range, "
                    "notional-weighted over the events")
    lift: float | None = Field(description="top_decile_share / uniform_share")
    mean_band_percentile: float | None = Field(description="0.5 for a map that knows nothing")
    notional_weighted_band_percentile: float | None
    side_match_rate: float | None
    side_match_notional_share: float | None


class OnlineScore(BaseModel):
    available: bool
    reason: str | None = None
    exchange: str | None = None
    map_window: Window | None = Field(None, description="the map window events are scored on")
    window_hours: int | None = Field(
        None, description="the rolling window: these whole UTC hours and the current one")
    feed: LiquidationFeedHealth | None = None
    symbols: dict[str, OnlineScoreSymbol] = Field(default_factory=dict)
