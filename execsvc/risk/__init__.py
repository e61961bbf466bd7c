"""Risk policies (`policies/*.toml`) and their enforcement: the schema and loader
(`policy`), the pure rules (`rules`) and the Redis-backed rate, duplicate and audit gate
(`gate`)."""

from execsvc.risk.gate import RiskGate
from execsvc.risk.policy import (
    Limits,
    NearCluster,
    Policy,
    PolicyError,
    load_policies_dir,
    load_policy,
    parse_policy,
)
from execsvc.risk.rules import (
    RiskContext,
    RiskDecision,
    RiskOrder,
    Violation,
    evaluate,
)

__all__ = [
    "Limits",
    "NearCluster",
    "Policy",
    "PolicyError",
    "RiskContext",
    "RiskDecision",
    "RiskGate",
    "RiskOrder",
    "Violation",
    "evaluate",
    "load_policies_dir",
    "load_policy",
    "parse_policy",
]
