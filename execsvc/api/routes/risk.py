"""`POST /risk/check`: the active policy's verdict on an order, placing nothing.

The policy and the stateful rules (`RiskGate`) are the app's (`ApiContext`; the service refuses
to start without a valid policy). Rules read the fresh map of the policy's `map_window`
(clusters, and its price as the mark price); a missing or stale map is a 503, as for the
advice routes. With an `X-API-Key` header the check also says whether the key's next order
would be rate limited or reuse a `client_order_id`, and the key's position at the venue counts;
without one those two rules are skipped and the order is judged as if no position were held.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from execsvc.api.auth import OptionalApiKeyId
from execsvc.api.deps import Ctx
from execsvc.api.problems import body_problem, problems
from execsvc.api.schemas import (
    PolicyOut,
    RiskCheckRequest,
    RiskCheckResponse,
    ViolationOut,
)
from execsvc.domain.orders import order_shape_problem
from execsvc.risk.gate import ANONYMOUS
from execsvc.risk.rules import RiskOrder

router = APIRouter(prefix="/risk", tags=["risk"])


def _order(body: RiskCheckRequest, symbol: str) -> RiskOrder:
    kind = body.type or ("limit" if body.price is not None else "market")
    problem = order_shape_problem(kind, body.quantity, body.price, body.stop_price,
                                  protective_stop=True)
    if problem is not None:
        raise body_problem(*problem)
    return RiskOrder(symbol, body.side, body.quantity, body.price, body.stop_price, kind,
                     body.leverage, body.reduce_only, body.client_order_id)


@router.post("/check", response_model=RiskCheckResponse,
             responses=problems(400, 401, 404, 413, 503),
             openapi_extra={"security": [{}, {"APIKeyHeader": []}]},
             summary="Would the active risk policy accept this order? Places nothing")
async def check(body: RiskCheckRequest, ctx: Ctx, key: OptionalApiKeyId) -> RiskCheckResponse:
    symbol, view, _ = await ctx.policy_map(body.symbol, body.exchange)
    order = _order(body, symbol)
    context = await ctx.risk_context(key, symbol, view)
    decision = await ctx.risk_gate.check(ctx.policy, order, context, key or ANONYMOUS)
    return RiskCheckResponse(
        allowed=decision.allowed,
        max_quantity=view.precision.quantity_down(decision.max_quantity),
        violations=[ViolationOut(**asdict(v)) for v in decision.violations],
        policy=PolicyOut(name=decision.policy.name, version=decision.policy.version),
        symbol=symbol,
        mark_price=view.price,
        map=ctx.map_ref(view),
    )
