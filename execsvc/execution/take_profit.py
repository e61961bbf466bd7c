"""Take-profit zones in front of opposite-side liquidation clusters (pure; no I/O).

For a long, the profit side is above the entry where short-liquidation clusters sit: a move into
one forces shorts to buy at market, so a resting sell just *before* the cluster's near edge fills
as that buying arrives. A short is the mirror (long-liquidation clusters below).

Which zones: every opposite-side cluster beyond the entry gets the score
`notional_quote / (1 + distance_pct)` (distance from entry to its near edge, percent): big
clusters count, far ones less. The best `max_zones` by score are kept and listed **nearest
first** (the order the price reaches them).

Size fractions: each kept zone's share of the position is its share of the kept scores,
`score_i / sum(scores)`, so they sum to 1; a zone with twice the notional at the same distance
takes twice the size. With a quantity, which must be whole lots (`MarketPrecision.checked_lots`:
a quantity below one lot or off the lot grid is a `LotError`, not zones of 0 or a sum short of
it), the zone quantities are whole lots that sum exactly to it (`lot_split`: cumulative shares
rounded to lots, so no rounding accumulates).

Targets: `max(band width, ATR / 4)` before the near edge (at least one tick before it), on the
tick toward the entry; when that would be at or behind the entry, the near edge itself, on the
tick away from the cluster (down for a long, up for a short), so never inside the cluster, even
with an entry off the tick grid level with its edge. A cluster whose near edge, so snapped, is
not beyond the entry is no target.
A zone's `price_low`/`price_high` are the cluster's extent put on the tick outward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from execsvc.domain.units import MarketPrecision, PositionSide
from execsvc.execution.slice_plan import split_in_lots
from execsvc.liqmap.clusters import Cluster


@dataclass(frozen=True, slots=True)
class TakeProfitZone:
    price_low: float
    price_high: float
    target_price: float
    size_fraction: float
    distance_pct: float
    cluster: Cluster


def _front_offset(atr_quote: float, band_width_quote: float, tick: float) -> float:
    """How far before the near edge the target sits (quote): one band or a quarter ATR, at
    least one tick."""
    return max(band_width_quote, 0.25 * atr_quote, tick)


def take_profit_zones(
    side: PositionSide,
    entry_price: float,
    clusters: Sequence[Cluster],
    atr_quote: float,
    band_width_quote: float,
    max_zones: int = 3,
    *,
    precision: MarketPrecision,
) -> list[TakeProfitZone]:
    """Zones nearest first whose `size_fraction`s sum to 1 (rules in the module docstring);
    empty when no opposite-side cluster lies beyond the entry."""
    sign = 1.0 if side == "long" else -1.0
    opposite = "short" if side == "long" else "long"

    away_from_cluster = precision.price_down if side == "long" else precision.price_up

    def near_edge(c: Cluster) -> float:
        return c.price_low if side == "long" else c.price_high

    ahead = [c for c in clusters if c.side == opposite
             and sign * (away_from_cluster(near_edge(c)) - entry_price) > 0]
    scored = []
    for cluster in ahead:
        distance_pct = sign * (near_edge(cluster) - entry_price) / entry_price * 100.0
        scored.append((cluster.notional_quote / (1.0 + distance_pct), distance_pct, cluster))
    scored.sort(key=lambda item: item[0], reverse=True)
    chosen = sorted(scored[:max_zones], key=lambda item: item[1])
    total = sum(score for score, _, _ in chosen)
    if total <= 0:
        return []
    offset = _front_offset(atr_quote, band_width_quote, precision.tick_size)
    zones = []
    for score, _, cluster in chosen:
        edge = near_edge(cluster)
        target = precision.price_toward(edge - sign * offset, entry_price)
        if sign * (target - entry_price) <= 0:
            target = away_from_cluster(edge)
        zones.append(
            TakeProfitZone(
                price_low=precision.price_down(cluster.price_low),
                price_high=precision.price_up(cluster.price_high),
                target_price=target,
                size_fraction=score / total,
                distance_pct=sign * (target - entry_price) / entry_price * 100.0,
                cluster=cluster,
            )
        )
    return zones


def lot_split(fractions: Sequence[float], quantity: float,
              precision: MarketPrecision) -> list[float]:
    """`quantity` (base, whole lots) in whole lots shared by `fractions` (summing to 1): the
    cumulative shares rounded to lots, so the parts sum exactly to `quantity`. `LotError`
    when `quantity` is not whole lots (`MarketPrecision.checked_lots`)."""
    lots = split_in_lots(np.asarray(fractions, dtype=float), precision.checked_lots(quantity))
    return [precision.quantity_of(int(n)) for n in lots]
