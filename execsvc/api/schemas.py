"""Request and response bodies of the advice endpoints.

Units are in the names: prices in quote per base, `quantity` in base units, `*_quote` in quote
currency, `*_pct` in percent, `*_bps` in basis points. Requests refuse unknown fields, NaN and
infinities, so a typo or a broken client gets a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Window = Literal["1d", "7d", "30d"]
Symbol = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,40}$", examples=["BTCUSDT"])]
Exchange = Annotated[str | None, Field(default=None, pattern=r"^[a-z0-9_]{1,40}$")]
PositivePrice = Annotated[float, Field(gt=0, description="quote per base")]
PositiveQuantity = Annotated[float, Field(gt=0, description="base units")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class StopRequest(Request):
    symbol: Symbol
    side: Literal["long", "short"]
    entry_price: PositivePrice | None = Field(None, description="default: the map's price")
    quantity: PositiveQuantity | None = None
    risk_usd: float | None = Field(
        None, gt=0, description="most the position may lose at the stop, in quote currency"
    )
    max_loss_pct: float | None = Field(None, gt=0, lt=100, description="percent of entry")
    window: Window = "7d"
    exchange: Exchange = None


class TakeProfitRequest(Request):
    symbol: Symbol
    side: Literal["long", "short"]
    entry_price: PositivePrice | None = None
    quantity: PositiveQuantity | None = None
    max_zones: int = Field(3, ge=1, le=10)
    window: Window = "7d"
    exchange: Exchange = None


class MapRef(BaseModel):
    version: int
    age_s: float
    stale: bool


class ClusterOut(BaseModel):
    rank: int
    side: Literal["long", "short"]
    price_low: float
    price_high: float
    peak_price: float
    notional_quote: float
    intensity: float
    distance_pct: float


class Buffer(BaseModel):
    atr: float = Field(description="average true range of the map's candles, quote per base")
    atr_multiple: float
    buffer_quote: float = Field(description="atr * atr_multiple, quote per base")
    overshoot_pct: float = Field(description="cascade overshoot past the anchor cluster, %")


class Alternative(BaseModel):
    label: Literal["tight", "standard", "wide"]
    stop_price: float
    distance_pct: float


class StopResponse(BaseModel):
    symbol: str
    side: Literal["long", "short"]
    entry_price: float
    stop_price: float
    distance_pct: float
    avoided_clusters: list[ClusterOut]
    buffer: Buffer
    alternatives: list[Alternative]
    fits_risk: bool
    cluster_aware_stop_price: float
    suggested_quantity: float | None = Field(None, description="base units")
    loss_at_stop_quote: float | None = None
    rationale: str
    book_source: str | None = Field(None, description="order book the cascade walked")
    map: MapRef


class Zone(BaseModel):
    price_low: float
    price_high: float
    target_price: float
    size_fraction: float
    quantity: float | None = Field(None, description="base units, when quantity was given")
    cluster: ClusterOut
    distance_pct: float


class TakeProfitResponse(BaseModel):
    symbol: str
    side: Literal["long", "short"]
    entry_price: float
    zones: list[Zone]
    rationale: str
    map: MapRef


class SliceRequest(Request):
    symbol: Symbol
    side: Literal["buy", "sell"]
    quantity: PositiveQuantity
    horizon_s: float = Field(gt=0, le=7 * 86_400, description="seconds to complete the order")
    strategy: Literal["auto", "twap", "almgren_chriss", "pov"] = "auto"
    risk_aversion: float | None = Field(
        None, ge=0, le=1, description="Almgren-Chriss lambda, 1/quote (typical 1e-6)"
    )
    max_participation: float | None = Field(None, gt=0, le=1, description="of traded volume")
    window: Window = "7d"
    exchange: Exchange = None


class ChildOut(BaseModel):
    t_offset_s: float
    quantity: float = Field(description="base units")
    order_type: Literal["market", "limit"]
    limit_price: float | None = None
    reason: str


class SliceSlippage(BaseModel):
    plan_bps: float
    plan_if_limits_unfilled_bps: float
    market_order_bps: float
    twap_bps: float


class Calibration(BaseModel):
    eta: float = Field(description="temporary impact, quote*s/base^2")
    epsilon: float = Field(description="half-spread, quote per base")
    sigma_quote_per_sqrt_s: float
    volume_rate_base_per_s: float
    risk_aversion: float | None


class SliceResponse(BaseModel):
    symbol: str
    side: Literal["buy", "sell"]
    quantity: float
    horizon_s: float
    strategy_used: str
    n_slices: int
    slice_interval_s: float
    children: list[ChildOut]
    slippage: SliceSlippage
    calibration: Calibration
    notes: list[str]
    book_source: str
    map: MapRef
