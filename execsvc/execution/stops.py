"""Stop-loss placement beyond liquidation clusters (pure; no I/O).

For a long the losing side is below the entry, where long-liquidation clusters sit; a short is
the mirror. Work happens in *distance beyond entry* `x` (quote per base): `x = entry - p` for a
long, `x = p - entry` for a short, so one code path serves both sides.

The standard stop lies beyond the far edge of the nearest *dense* cluster (intensity >=
`min_intensity`) that starts within the search limit, plus the cascade overshoot a move into that
cluster would cause (percent of the far-edge price, from `execsvc.liqmap.cascade`), plus a
volatility buffer `atr_multiple * ATR`. A stop is never left inside any losing-side cluster,
nor within one buffer in front of one: it is pushed past that cluster's far edge plus the
buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from execsvc.domain.units import PositionSide
from execsvc.liqmap.clusters import Cluster

Overshoot = Callable[[Cluster], float]
"""Cascade overshoot in percent beyond a cluster's far edge (>= 0)."""


@dataclass(frozen=True, slots=True)
class StopParams:
    atr_multiple: float = 0.5
    """Volatility buffer beyond a cluster, in ATRs (ATR(14) of 1-hour bars)."""
    plain_atr_multiple: float = 1.0
    """Stop distance in ATRs when no dense cluster lies within the search limit."""
    min_intensity: float = 0.25
    """A cluster counts as dense from this relative intensity (0..1)."""
    search_pct: float = 15.0
    """Without `max_loss_pct`, clusters are looked for this far from entry (percent)."""
    tight_min_intensity: float = 0.1


@dataclass(frozen=True, slots=True)
class StopLevel:
    label: str
    stop_price: float
    distance_pct: float


@dataclass(frozen=True, slots=True)
class StopAdvice:
    stop_price: float
    distance_pct: float
    fits_risk: bool
    cluster_aware_stop_price: float
    anchor: Cluster | None
    avoided_clusters: list[Cluster]
    atr_quote: float
    buffer_quote: float
    overshoot_pct: float
    alternatives: list[StopLevel]
    suggested_quantity: float | None
    loss_at_stop_quote: float | None
    rationale: str


@dataclass(frozen=True, slots=True)
class _Frame:
    """Distances beyond entry for one side."""

    side: PositionSide
    entry: float

    def near(self, c: Cluster) -> float:
        return self.entry - c.price_high if self.side == "long" else c.price_low - self.entry

    def far(self, c: Cluster) -> float:
        return self.entry - c.price_low if self.side == "long" else c.price_high - self.entry

    def far_price(self, c: Cluster) -> float:
        return c.price_low if self.side == "long" else c.price_high

    def price(self, x: float) -> float:
        return self.entry - x if self.side == "long" else self.entry + x

    def pct(self, x: float) -> float:
        return x / self.entry * 100.0


def _losing_side(frame: _Frame, clusters: Sequence[Cluster]) -> list[Cluster]:
    """Clusters of the position's own side reaching beyond the entry, nearest first."""
    mine = [c for c in clusters if c.side == frame.side and frame.far(c) > 0]
    return sorted(mine, key=frame.near)


def _out_of_clusters(frame: _Frame, x: float, losing: list[Cluster], buffer: float) -> float:
    """Push `x` past every cluster it falls in, or lies within one buffer in front of (each
    far edge plus the buffer): a stop just before a cluster is the first to be swept."""
    for cluster in losing:  # nearest first, so one pass settles it
        if frame.near(cluster) - buffer < x <= frame.far(cluster):
            x = frame.far(cluster) + buffer
    return x


def _beyond(frame: _Frame, cluster: Cluster, overshoot: Overshoot, buffer: float) -> float:
    cascade = frame.far_price(cluster) * max(0.0, overshoot(cluster)) / 100.0
    return frame.far(cluster) + cascade + buffer


def _best_within(frame: _Frame, limit: float, losing: list[Cluster]) -> float | None:
    """The farthest distance within `limit` that is not inside a cluster, or None when there is
    none: the cluster holding the limit starts at (or above) the entry itself."""
    for cluster in losing:
        if frame.near(cluster) <= limit <= frame.far(cluster):
            return frame.near(cluster) if frame.near(cluster) > 0 else None
    return limit


def _alternatives(
    frame: _Frame, standard: float, dense: list[Cluster], losing: list[Cluster],
    anchor: Cluster | None, overshoot: Overshoot, buffer: float, params: StopParams, atr: float,
) -> list[StopLevel]:
    light = [c for c in losing if c.intensity >= params.tight_min_intensity]
    tight = frame.far(light[0]) + buffer if light else standard
    tight = min(_out_of_clusters(frame, tight, losing, buffer), standard)
    later = [c for c in dense if anchor is not None and frame.near(c) > frame.far(anchor)]
    wide = _beyond(frame, later[0], overshoot, buffer) if later else standard + atr
    wide = max(_out_of_clusters(frame, wide, losing, buffer), standard)
    return [
        StopLevel(label, frame.price(x), frame.pct(x))
        for label, x in (("tight", tight), ("standard", standard), ("wide", wide))
    ]


def suggest_stop(
    side: PositionSide,
    entry_price: float,
    clusters: Sequence[Cluster],
    atr_quote: float,
    overshoot: Overshoot,
    params: StopParams | None = None,
    *,
    max_loss_pct: float | None = None,
    quantity: float | None = None,
    risk_quote: float | None = None,
    quote_currency: str = "USDT",
) -> StopAdvice:
    """Where to put the stop of a position opened at `entry_price` (quote per base).

    `quantity` is in base units, `risk_quote` the most the position may lose at the stop (quote).
    With `risk_quote`, `suggested_quantity = risk_quote / |entry - stop|`. When `max_loss_pct`
    cannot hold the cluster-aware stop, the answer says so (`fits_risk=False`), gives the best
    stop within the limit, and a quantity that keeps the same quote risk at the cluster-aware
    stop.
    """
    params = params or StopParams()
    frame = _Frame(side, entry_price)
    buffer = params.atr_multiple * atr_quote
    limit = entry_price * (max_loss_pct if max_loss_pct is not None else params.search_pct) / 100
    losing = _losing_side(frame, clusters)
    dense = [c for c in losing if c.intensity >= params.min_intensity]
    anchor = next((c for c in dense if frame.near(c) < limit), None)
    if anchor is not None:
        first = _beyond(frame, anchor, overshoot, buffer)
    else:
        first = params.plain_atr_multiple * atr_quote
    standard = _out_of_clusters(frame, first, losing, buffer)
    pushed = [c for c in losing if first < frame.far(c) <= standard]
    fits = max_loss_pct is None or standard <= limit
    within = None if fits else _best_within(frame, limit, losing)
    chosen = within if within is not None else standard
    overshoot_pct = max(0.0, overshoot(anchor)) if anchor is not None else 0.0
    suggested, loss = _sizing(frame, chosen, standard, fits, limit, quantity, risk_quote)
    return StopAdvice(
        stop_price=frame.price(chosen),
        distance_pct=frame.pct(chosen),
        fits_risk=fits,
        cluster_aware_stop_price=frame.price(standard),
        anchor=anchor,
        avoided_clusters=[c for c in losing if frame.near(c) < chosen],
        atr_quote=atr_quote,
        buffer_quote=buffer,
        overshoot_pct=overshoot_pct,
        alternatives=_alternatives(
            frame, standard, dense, losing, anchor, overshoot, buffer, params, atr_quote
        ),
        suggested_quantity=suggested,
        loss_at_stop_quote=loss,
        rationale=_rationale(frame, anchor, standard, chosen, fits, overshoot_pct, buffer,
                             params, quote_currency, len(pushed)),
    )


def _sizing(
    frame: _Frame, chosen: float, standard: float, fits: bool, limit: float,
    quantity: float | None, risk_quote: float | None,
) -> tuple[float | None, float | None]:
    """(suggested quantity in base units, loss at the chosen stop in quote)."""
    loss = quantity * chosen if quantity is not None else None
    if risk_quote is not None:
        target = standard if not fits else chosen
        return (risk_quote / target if target > 0 else None), loss
    if not fits and quantity is not None and standard > 0:
        return quantity * limit / standard, loss
    return None, loss


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if value >= 100 else f"{value:,.6g}"


def _money(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f}{unit}"
    return f"{value:,.0f}"


def _rationale(
    frame: _Frame, anchor: Cluster | None, standard: float, chosen: float, fits: bool,
    overshoot_pct: float, buffer: float, params: StopParams, currency: str, pushed: int,
) -> str:
    side = frame.side
    where = "below" if side == "long" else "above"
    head = f"{side.capitalize()} from {_fmt(frame.entry)}: "
    if anchor is None:
        text = (f"no dense {side}-liquidation cluster (intensity >= {params.min_intensity}) "
                f"within reach {where} the entry; the stop is {params.plain_atr_multiple:g} ATR "
                "away")
    else:
        text = (f"the nearest dense {side}-liquidation cluster is {_fmt(anchor.price_low)}-"
                f"{_fmt(anchor.price_high)} (intensity {anchor.intensity:.2f}, "
                f"{_money(anchor.notional_quote)} {currency}); a move into it could cascade "
                f"{overshoot_pct:.2f} % past its far edge, so the stop sits beyond that plus "
                f"{params.atr_multiple:g} ATR ({_fmt(buffer)})")
    if pushed:
        text += (f"; that level fell in or just in front of {pushed} more cluster(s), so the "
                 "stop moves past them too")
    text += f": {_fmt(frame.price(standard))}, {frame.pct(standard):.2f} % from entry"
    if not fits and chosen == standard:
        text += (". That is more than your max loss allows, and no level within it lies "
                 "outside the cluster the entry sits in: keep this stop with the smaller size "
                 "suggested")
    elif not fits:
        text += (f". That is more than your max loss allows: the best stop within it is "
                 f"{_fmt(frame.price(chosen))} ({frame.pct(chosen):.2f} %), which a sweep of "
                 f"the cluster would trigger; consider the smaller size suggested instead")
    return head + text + "."
