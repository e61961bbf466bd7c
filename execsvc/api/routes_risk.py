"""`POST /risk/check`: the active policy's verdict on an order, placing nothing.

The policy is `app.state.policy` (loaded at startup; the service refuses to start without a
valid one) and the stateful rules run through `app.state.risk_gate`. Rules read the fresh map
of the policy's `map_window` (clusters, and its price as the mark price); a missing or stale
map is a 503, as for the advice routes. With an `X-API-Key` header the check also says whether
the key's next order would be rate limited or reuse a `client_order_id`; without one those two
rules are skipped. When the app provides `app.state.position_lookup` (an async callable
`(key_id, symbol) -> Position | None`), the held position counts; otherwise the order is
judged as if the key held none of the symbol.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Security
from pydantic import BaseModel, Field

from execsvc.api.advice_cache import AdviceCache
from execsvc.api.auth import api_key_header, require_api_key
from execsvc.api.context import ApiContext
from execsvc.api.problems import Problem, body_problem
from execsvc.api.routes_suggest import fresh_map, freshness
from execsvc.api.schemas import Exchange, MapRef, Symbol
from execsvc.api.schemas import Request as StrictBody
from execsvc.liqmap.margin import Bracket, bracket_table
from execsvc.risk.gate import ANONYMOUS, RiskGate
from execsvc.risk.policy import Policy
from execsvc.risk.rules import RiskContext, RiskOrder

router = APIRouter(prefix="/risk", tags=["risk"])

# Symbols without a Binance bracket table of their own use BTCUSDT's (as the replay source does).
# Bounds keep every notional, size and distance finite (JSON has no infinity).
Quantity = Annotated[float, Field(gt=0, le=1e12, description="base units")]
Price = Annotated[float, Field(ge=1e-9, le=1e12, description="quote per base")]


class RiskCheckRequest(StrictBody):
    symbol: Symbol
    side: Literal["buy", "sell"]
    quantity: Quantity
    price: Price | None = Field(None, description="limit price, quote per base")
    stop_price: Price | None = Field(
        None, description="stop trigger (type stop) or the stop protecting the position, "
        "quote per base")
    type: Literal["market", "limit", "stop"] | None = Field(
        None, description="default: limit with a price, else market")
    leverage: float = Field(10.0, ge=1, le=1000, description="multiple, 20 = 20x")
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
    max_quantity: float = Field(description="largest quantity (base units) the quantity "
                                "rules allow for this order")
    violations: list[ViolationOut]
    policy: PolicyOut
    symbol: str
    mark_price: float
    map: MapRef


def brackets_for(symbol: str) -> list[Bracket]:
    return bracket_table(symbol)



def _order(body: RiskCheckRequest, symbol: str) -> RiskOrder:
    kind = body.type or ("limit" if body.price is not None else "market")
    if kind == "market" and body.price is not None:
        raise body_problem("price", "a market order takes no price (use type limit)")
    if kind == "limit" and body.price is None:
        raise body_problem("price", "a limit order needs a price")
    if kind == "stop" and body.stop_price is None:
        raise body_problem("stop_price", "a stop order needs a stop_price")
    return RiskOrder(symbol, body.side, body.quantity, body.price, body.stop_price, kind,
                     body.leverage, body.reduce_only, body.client_order_id)


def _risk_state(request: Request) -> tuple[Policy, RiskGate]:
    policy = getattr(request.app.state, "policy", None)
    gate = getattr(request.app.state, "risk_gate", None)
    if policy is None or gate is None:
        raise Problem(503, "no risk policy is loaded", reason="policy_missing")
    return policy, gate


@router.post("/check", response_model=RiskCheckResponse,
             summary="Would the active risk policy accept this order? Places nothing")
async def check(
    body: RiskCheckRequest,
    request: Request,
    presented: Annotated[str | None, Security(api_key_header)] = None,
) -> RiskCheckResponse:
    policy, gate = _risk_state(request)
    key_id = await require_api_key(request, presented) if presented else ANONYMOUS
    ctx: ApiContext = request.app.state.ctx
    cache: AdviceCache = request.app.state.advice
    if policy.map_window not in ctx.settings.windows:
        raise Problem(503, f"policy {policy.label} reads the {policy.map_window} map, which is "
                      "not computed (EXECSVC_WINDOWS)", reason="policy_window_missing")
    symbol, view, _ = await fresh_map(ctx, cache, body.symbol, policy.map_window, body.exchange)
    order = _order(body, symbol)
    lookup = getattr(request.app.state, "position_lookup", None)
    position = await lookup(key_id, symbol) if lookup is not None else None
    context = RiskContext(
        mark_price=view.price, brackets=brackets_for(symbol), clusters=view.clusters,
        position=position, quote_currency=view.document.get("quote_currency", "USDT"),
    )
    decision = await gate.check(policy, order, context, key_id)
    return RiskCheckResponse(
        allowed=decision.allowed,
        max_quantity=decision.max_quantity,
        violations=[ViolationOut(**asdict(v)) for v in decision.violations],
        policy=PolicyOut(name=decision.policy.name, version=decision.policy.version),
        symbol=symbol,
        mark_price=view.price,
        map=MapRef(**freshness(view, ctx)),
    )
