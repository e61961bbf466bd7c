"""Risk fixtures shared by the gate and API tests: the bundled policies, a mark-price context
and an order factory."""

from __future__ import annotations

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.domain.orders import OrderRequest
from execsvc.risk.policy import Policy, load_policy
from execsvc.risk.rules import RiskContext
from tests.support import REPO

POLICIES = REPO / "policies"
CONTEXT = RiskContext(50_000.0, BINANCE_USDM_BRACKETS["BTCUSDT"])


def gate_policy(per_minute: int = 3) -> Policy:
    """The bundled default policy with `per_minute` orders per minute."""
    policy = load_policy(POLICIES / "default.toml")
    return policy.model_copy(update={"max_orders_per_minute": per_minute})


def order(coid: str = "c-1", **fields) -> OrderRequest:
    values = {"symbol": "BTCUSDT", "side": "buy", "type": "market", "quantity": 0.1, **fields}
    return OrderRequest(coid, **values)
