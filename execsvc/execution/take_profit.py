"""Take-profit zones in front of opposite-side liquidation clusters (pure; no I/O).

For a long, the profit side is above the entry where short-liquidation clusters sit: a move into
one forces shorts to buy at market, so a resting sell just *before* the cluster's near edge fills
as that buying arrives. A short is the mirror (long-liquidation clusters below).

Ranking: `score = notional_quote / (1 + distance_pct)` (distance from entry to the cluster's near
edge, percent); the best `max_zones` by score are kept and sized in proportion to their score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from execsvc.domain.units import PositionSide
from execsvc.liqmap.clusters import Cluster


@dataclass(frozen=True, slots=True)
class TakeProfitZone:
    price_low: float
    price_high: float
    target_price: float
    size_fraction: float
    distance_pct: float
    cluster: Cluster


def _front_offset(atr_quote: float, band_width_quote: float) -> float:
    """How far before the near edge the target sits (quote): one band or a quarter ATR."""
    return max(band_width_quote, 0.25 * atr_quote)


def take_profit_zones(
    side: PositionSide,
    entry_price: float,
    clusters: Sequence[Cluster],
    atr_quote: float,
    band_width_quote: float,
    max_zones: int = 3,
) -> list[TakeProfitZone]:
    """Ranked zones (best first) whose `size_fraction`s sum to 1; empty when no
    opposite-side cluster lies beyond the entry."""
    sign = 1.0 if side == "long" else -1.0
    opposite = "short" if side == "long" else "long"

    def near_edge(c: Cluster) -> float:
        return c.price_low if side == "long" else c.price_high

    ahead = [c for c in clusters if c.side == opposite and sign * (near_edge(c) - entry_price) > 0]
    scored = []
    for cluster in ahead:
        distance_pct = sign * (near_edge(cluster) - entry_price) / entry_price * 100.0
        scored.append((cluster.notional_quote / (1.0 + distance_pct), distance_pct, cluster))
    scored.sort(key=lambda item: item[0], reverse=True)
    chosen = scored[:max_zones]
    total = sum(score for score, _, _ in chosen)
    if total <= 0:
        return []
    offset = _front_offset(atr_quote, band_width_quote)
    zones = []
    for score, _, cluster in chosen:
        edge = near_edge(cluster)
        target = edge - sign * offset
        if sign * (target - entry_price) <= 0:
            target = (edge + entry_price) / 2.0
        zones.append(
            TakeProfitZone(
                price_low=cluster.price_low,
                price_high=cluster.price_high,
                target_price=target,
                size_fraction=score / total,
                distance_pct=sign * (target - entry_price) / entry_price * 100.0,
                cluster=cluster,
            )
        )
    return zones
