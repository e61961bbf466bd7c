"""Stop-loss placement beyond the liquidation clusters that matter (pure; no I/O).

For a long the losing side is below the entry, where long-liquidation clusters sit; a short is
the mirror. Work happens in *distance beyond entry* `x` (quote per base): `x = entry - p` for a
long, `x = p - entry` for a short, so one code path serves both sides.

**Clusters that matter.** A cluster of the position's own side pushes the stop only when it is
*dense* (`intensity >= min_intensity`) and *within reach*: its near edge at most `reach_atr`
ATRs (ATR(14) of 1-hour bars) beyond the entry. Lighter or farther clusters never push the
stop out; they only keep it from sitting inside them.

**Standard (cluster-aware) stop.** Beyond the far edge of the nearest cluster that matters,
plus the cascade overshoot a sweep of it would cause (percent of the far-edge price, from
`execsvc.liqmap.cascade`), plus a volatility buffer `atr_multiple * ATR`. Without one, a plain
`plain_atr_multiple` ATR stop. It does not depend on `max_loss_pct`, so loosening the loss
limit can only turn `fits_risk` from false to true.

**Never inside a cluster.** A level inside any cluster on the losing side of the entry (either
side's, `price_low < p < price_high`) moves past that cluster's far edge; a level less than one
buffer in front of a cluster that matters moves past it plus the buffer (the stop in front of
a dense cluster is the first to be swept). Then the price is put on the tick, away from the
entry (so it never reaches the entry), and the check repeats until it holds.

**The position.** With a leverage (`execution.position`), the position's liquidation price is
a hard limit: a stop must trigger at least `liquidation_gap_atr` ATRs (and one tick) before
it. When the standard stop does not fit (`fits_liquidation` false), the stop given is the best
level inside that limit and outside every cluster, or none at all (`stop_price` None), for
one of three reasons (`NoStop`, decided from the numbers): the liquidation price is at or on
the profit side of the entry (the margin does not cover the maintenance margin even at the
entry: liquidated at once); it is too near the entry to leave a level on the tick the gap in
front of it; or every level inside it lies in the cluster the entry sits in (and any clusters
adjoining it). The answer suggests the largest whole leverage (isolated) or size (cross, with
the account's equity) at which the standard stop fits; the remedy the rationale gives is a
lower leverage (isolated), or more equity or a smaller size (cross).

`max_loss_pct` is a soft limit: when the standard stop lies beyond it
(`fits_risk` false) the best level within it is given instead, with a smaller size that keeps
the same quote risk at the standard stop.

**Alternatives** (each kept inside the liquidation limit): `tight`, the first of (beyond the
nearest cluster of intensity >= `tight_min_intensity` in front of the anchor, plus the
buffer; the farthest level outside every cluster at least one buffer in front of the anchor;
`plain_atr_multiple` ATR; half the standard distance) that lies strictly nearer than the
standard stop, outside every cluster; `standard`;
`wide`, beyond the next dense cluster after the anchor within twice the reach (plus its
overshoot and the buffer), else the standard stop plus one ATR. They are distinct prices
whenever the map allows it (a level outside every cluster exists in front of the standard
stop, and the liquidation limit leaves room beyond it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from execsvc.domain.units import MarketPrecision, PositionSide
from execsvc.execution.position import (
    PositionSpec,
    max_leverage_for_stop,
    max_quantity_for_stop,
)
from execsvc.liqmap.clusters import Cluster

Overshoot = Callable[[Cluster], float]
"""Cascade overshoot in percent beyond a cluster's far edge (>= 0)."""
MAX_SNAP_ROUNDS = 64

NoStop = Literal["liquidated_at_once", "within_gap", "entry_cluster"]
"""Why no stop is given inside the liquidation price (`_no_stop_reason`)."""


@dataclass(frozen=True, slots=True)
class StopParams:
    atr_multiple: float = 0.5
    """Volatility buffer beyond a cluster, in ATRs (ATR(14) of 1-hour bars)."""
    plain_atr_multiple: float = 1.0
    """Stop distance in ATRs when no cluster that matters lies within reach."""
    min_intensity: float = 0.5
    """A cluster is dense from this relative intensity (0..1)."""
    reach_atr: float = 4.0
    """A dense cluster matters when its near edge lies at most this many ATRs from entry."""
    tight_min_intensity: float = 0.1
    liquidation_gap_atr: float = 0.25
    """A stop triggers at least this many ATRs (and one tick) before the liquidation price."""


@dataclass(frozen=True, slots=True)
class StopLevel:
    label: str
    stop_price: float
    distance_pct: float
    basis: str


@dataclass(frozen=True, slots=True)
class StopAdvice:
    """Prices in quote per base, on the tick; quantities in base units, on the lot."""

    stop_price: float | None
    distance_pct: float | None
    fits_risk: bool
    fits_liquidation: bool
    cluster_aware_stop_price: float
    anchor: Cluster | None
    avoided_clusters: list[Cluster]
    atr_quote: float
    buffer_quote: float
    overshoot_pct: float
    reach_quote: float
    alternatives: list[StopLevel]
    liquidation_price: float | None
    suggested_leverage: float | None
    suggested_quantity: float | None
    loss_at_stop_quote: float | None
    rationale: str
    no_stop: NoStop | None = None
    """Why `stop_price` is None (`_no_stop_reason`); None when a stop is given."""


@dataclass(frozen=True, slots=True)
class _Frame:
    """Distances beyond entry for one side, and the tick every stop sits on."""

    side: PositionSide
    entry: float
    grid: MarketPrecision

    def near(self, c: Cluster) -> float:
        return self.entry - c.price_high if self.side == "long" else c.price_low - self.entry

    def far(self, c: Cluster) -> float:
        return self.entry - c.price_low if self.side == "long" else c.price_high - self.entry

    def far_price(self, c: Cluster) -> float:
        return c.price_low if self.side == "long" else c.price_high

    def price(self, x: float) -> float:
        return self.entry - x if self.side == "long" else self.entry + x

    def distance(self, price: float) -> float:
        return self.entry - price if self.side == "long" else price - self.entry

    def pct(self, x: float) -> float:
        return x / self.entry * 100.0

    def snap_away(self, x: float) -> float:
        """`x` with its price put on the tick away from the entry (at least one tick, and for
        a long at most the lowest positive tick)."""
        tick = self.grid.tick_size
        x = max(x, tick)
        if self.side == "long":
            x = min(x, self.entry - tick)
        return self.distance(self.grid.price_away(self.price(x), self.entry))

    def snap_toward(self, x: float) -> float:
        return self.distance(self.grid.price_toward(self.price(x), self.entry))


@dataclass(frozen=True, slots=True)
class _Map:
    """The clusters a stop meets on the losing side of the entry."""

    frame: _Frame
    obstacles: list[Cluster]
    """Every cluster reaching beyond the entry, nearest first: a stop never sits inside one."""
    matter: list[Cluster]
    """Own-side dense clusters within reach, nearest first."""
    dense: list[tuple[float, float, Cluster]]
    """Own-side dense clusters at any distance, nearest first, with their near and far
    distance."""
    buffer: float
    edges: list[tuple[float, float, bool]]
    """Per obstacle (in order): its near and far distance and whether it matters."""

    def inside(self, x: float) -> Cluster | None:
        for cluster, (near, far, _) in zip(self.obstacles, self.edges, strict=True):
            if near >= x:  # nearest first: no later cluster starts in front of x
                return None
            if x < far:
                return cluster
        return None

    def place(self, x: float) -> float:
        """`x` moved past every cluster it lies in (or within a buffer in front of one that
        matters) and put on the tick, away from the entry, until both hold."""
        frame, buffer = self.frame, self.buffer
        slack = max(buffer, 0.0)
        for _ in range(MAX_SNAP_ROUNDS):
            moved = x
            for near, far, matters in self.edges:
                if near - slack >= moved:  # nearest first, and `moved` only grows
                    break
                if matters and moved <= far:
                    moved = far + buffer
                elif near < moved < far:
                    moved = far
            snapped = frame.snap_away(moved)
            if snapped == x:
                return x
            x = snapped
        return x

    def best_within(self, limit: float) -> float | None:
        """The farthest level on the tick within `limit` that is outside every cluster and
        beyond the entry; None when there is none."""
        frame = self.frame
        x = frame.snap_toward(limit)
        for _ in range(MAX_SNAP_ROUNDS):
            if x <= 0.0:
                return None
            cluster = self.inside(x)
            if cluster is None:
                return x
            x = frame.snap_toward(frame.near(cluster))
        return None

    def beyond(self, cluster: Cluster, overshoot: Overshoot) -> float:
        cascade = self.frame.far_price(cluster) * max(0.0, overshoot(cluster)) / 100.0
        return self.frame.far(cluster) + cascade + self.buffer


@dataclass(frozen=True, slots=True)
class StopTable:
    """What a stop search on one side of one map needs that does not depend on the entry,
    built once per map (and `params`) and searched by every `suggest_stop` on it: per cluster,
    in the map's order, its near and far edge prices for `side` (a long's losses run down: its
    near edge is `price_high`; a short's is `price_low`), whether it is dense for the side
    (own side, `intensity >= min_intensity`), and the cluster."""

    side: PositionSide
    params: StopParams
    rows: tuple[tuple[float, float, bool, Cluster], ...]

    @classmethod
    def of(cls, side: PositionSide, clusters: Sequence[Cluster],
           params: StopParams | None = None) -> StopTable:
        params = params or StopParams()
        long = side == "long"
        return cls(side, params, tuple(
            (c.price_high if long else c.price_low, c.price_low if long else c.price_high,
             c.side == side and c.intensity >= params.min_intensity, c)
            for c in clusters))


def _near_first(item: tuple[float, float, Cluster, bool]) -> float:
    return item[0]


def _clusters(frame: _Frame, table: StopTable, atr: float, buffer: float) -> _Map:
    """The table's clusters reaching beyond the entry (far distance > 0), nearest first (a
    stable sort on the near distance: ties keep the map's order)."""
    entry = frame.entry
    if frame.side == "long":
        reaching = sorted([(entry - near, entry - far, c, dense)
                           for near, far, dense, c in table.rows if entry - far > 0],
                          key=_near_first)
    else:
        reaching = sorted([(near - entry, far - entry, c, dense)
                           for near, far, dense, c in table.rows if far - entry > 0],
                          key=_near_first)
    reach = table.params.reach_atr * atr
    obstacles, dense, matter, edges = [], [], [], []
    for near, far, c, is_dense in reaching:
        matters = is_dense and near <= reach
        obstacles.append(c)
        if is_dense:
            dense.append((near, far, c))
        if matters:
            matter.append(c)
        edges.append((near, far, matters))
    return _Map(frame, obstacles, matter, dense, buffer, edges)


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if value >= 100 else f"{value:,.6g}"


def _fmt_gap(value: float) -> str:
    """A distance in quote per base near the liquidation gap: 4 significant digits below 100."""
    return f"{value:,.2f}" if value >= 100 else f"{value:,.4g}"


def _tight(m: _Map, standard: float, anchor: Cluster | None, params: StopParams,
           atr: float) -> tuple[float, str]:
    """The first of these that lies strictly nearer than the standard stop: beyond the nearest
    light cluster in front of the anchor plus the buffer; the farthest level outside every
    cluster at least one buffer in front of the anchor; `plain_atr_multiple` ATR (moved out of
    clusters, else toward the entry out of them); half the standard distance (toward the entry
    out of clusters)."""
    frame = m.frame
    front = frame.near(anchor) if anchor is not None else None
    light = next((c for c, (_, far, _) in zip(m.obstacles, m.edges, strict=True)
                  if c.side == frame.side and c.intensity >= params.tight_min_intensity
                  and (front is None or far < front)), None)
    plain = params.plain_atr_multiple * atr
    for x, basis in _tight_candidates(m, standard, anchor, light, plain, params):
        if x is not None and 0.0 < x < standard:
            return x, basis
    return standard, "the standard stop (no nearer level outside the clusters)"


def _tight_candidates(m: _Map, standard: float, anchor: Cluster | None, light: Cluster | None,
                      plain: float, params: StopParams
                      ) -> Iterator[tuple[float | None, str]]:
    """`_tight`'s candidates in order, each computed only when the ones before it failed."""
    frame = m.frame
    if light is not None:
        c = light
        yield (m.place(frame.far(c) + m.buffer),
               f"beyond the cluster {_fmt(c.price_low)}-{_fmt(c.price_high)} "
               f"(intensity {c.intensity:.2f}) plus {params.atr_multiple:g} ATR")
    if anchor is not None:
        yield (m.best_within(frame.near(anchor) - m.buffer),
               f"at least {params.atr_multiple:g} ATR in front of the cluster "
               f"{_fmt(anchor.price_low)}-{_fmt(anchor.price_high)}: swept if it is")
    basis = f"{params.plain_atr_multiple:g} ATR"
    yield m.place(plain), basis
    yield m.best_within(plain), basis
    yield (m.best_within(standard / 2.0),
           "half the standard distance, outside the clusters")


def _wide(m: _Map, standard: float, anchor: Cluster | None, overshoot: Overshoot,
          params: StopParams, atr: float) -> tuple[float, str]:
    frame = m.frame
    after = frame.far(anchor) if anchor is not None else standard
    reach = 2.0 * params.reach_atr * atr
    c = next((c for near, far, c in m.dense if near >= after and near <= reach
              and far + m.buffer > standard), None)
    if c is not None:
        return (m.place(max(m.beyond(c, overshoot), standard)),
                f"beyond the next dense cluster {_fmt(c.price_low)}-{_fmt(c.price_high)} "
                f"(intensity {c.intensity:.2f}) with its cascade plus "
                f"{params.atr_multiple:g} ATR")
    return m.place(standard + atr), "the standard stop plus 1 ATR"


@dataclass(frozen=True, slots=True)
class _Limits:
    loss: float | None
    """The `max_loss_pct` distance (quote per base), soft."""
    liquidation: float | None
    """The farthest distance that keeps the liquidation gap (quote per base), hard."""


def _no_stop_reason(m: _Map, liquidation: float, limit: float) -> NoStop:
    """Why no level on the tick within `limit` lies outside every cluster (`best_within(limit)`
    gave none), from the distances beyond the entry (quote per base) of the liquidation price
    (`liquidation`) and of the farthest level a stop may take (`limit`, `liquidation` less the
    gap): `liquidated_at_once` when `liquidation <= 0` (the liquidation price is at the entry or
    on its profit side); `within_gap` when `limit`, put on the tick toward the entry, is not
    beyond it (no level keeps the gap); else `entry_cluster` (every level from the entry out to
    `limit` lies in a cluster: the one the entry sits in, and any adjoining it)."""
    if liquidation <= 0.0:
        return "liquidated_at_once"
    if m.frame.snap_toward(limit) <= 0.0:
        return "within_gap"
    return "entry_cluster"


def _within_liquidation(m: _Map, x: float, limits: _Limits) -> float | None:
    """`x` when it keeps the liquidation gap, else the best level that does (or None)."""
    if limits.liquidation is None or x <= limits.liquidation:
        return x
    return m.best_within(limits.liquidation)


def suggest_stop(
    side: PositionSide,
    entry_price: float,
    clusters: Sequence[Cluster] | StopTable,
    atr_quote: float,
    overshoot: Overshoot,
    params: StopParams | None = None,
    *,
    precision: MarketPrecision,
    max_loss_pct: float | None = None,
    quantity: float | None = None,
    risk_quote: float | None = None,
    position: PositionSpec | None = None,
    quote_currency: str = "USDT",
) -> StopAdvice:
    """Where to put the stop of a position opened at `entry_price` (quote per base); the rules
    are in the module docstring.

    `quantity` is the position's size (base units), `risk_quote` the most it may lose at the
    stop (quote): `suggested_quantity = risk_quote / |entry - stop|`, rounded down to the lot.
    `position` (leverage, margin mode, brackets) adds the liquidation price and its limit.
    `clusters` are the map's clusters, or their `StopTable` for `side` and `params` (built
    once per map: the same answer, less work per call).
    """
    if isinstance(clusters, StopTable):
        table = clusters
        if table.side != side or (params is not None and params != table.params):
            raise ValueError("the stop table is of another side or other parameters")
    else:
        table = StopTable.of(side, clusters, params)
    params = table.params
    frame = _Frame(side, entry_price, precision)
    buffer = params.atr_multiple * atr_quote
    m = _clusters(frame, table, atr_quote, buffer)
    anchor = m.matter[0] if m.matter else None
    first = m.beyond(anchor, overshoot) if anchor is not None else (
        params.plain_atr_multiple * atr_quote)
    standard = m.place(first)
    pushed = [c for c, (_, far, _) in zip(m.obstacles, m.edges, strict=True)
              if first < far <= standard]
    size = quantity
    if size is None and risk_quote is not None:
        size = risk_quote / standard
    liquidation = (position.liquidation_price(side, entry_price, size)
                   if position is not None else None)
    gap = max(params.liquidation_gap_atr * atr_quote, precision.tick_size)
    limits = _Limits(
        loss=entry_price * max_loss_pct / 100.0 if max_loss_pct is not None else None,
        liquidation=(frame.distance(liquidation) - gap) if liquidation is not None else None,
    )
    fits_risk = limits.loss is None or standard <= limits.loss
    fits_liq = limits.liquidation is None or standard <= limits.liquidation
    chosen = _choose(m, standard, fits_risk, fits_liq, limits)
    suggested, loss = _sizing(frame, chosen, standard, fits_risk, limits, quantity, risk_quote)
    leverage = None
    if not fits_liq and position is not None:
        stop = frame.price(standard)
        if position.margin_mode == "isolated" or position.account_equity_quote is None:
            leverage = max_leverage_for_stop(side, entry_price, size, stop, gap, position)
        elif size is not None:
            fit = max_quantity_for_stop(side, entry_price, size, stop, gap, position)
            fit = precision.quantity_down(fit) if fit is not None else 0.0
            suggested = fit if suggested is None else min(suggested, fit)
    overshoot_pct = max(0.0, overshoot(anchor)) if anchor is not None else 0.0
    alternatives = _alternatives(m, standard, anchor, overshoot, params, atr_quote, limits)
    why = None
    if chosen is None and liquidation is not None and limits.liquidation is not None:
        why = _no_stop_reason(m, frame.distance(liquidation), limits.liquidation)
    margin = _Margin(liquidation, gap, leverage, position, why,
                     limits.liquidation if limits.liquidation is not None else 0.0)
    return StopAdvice(
        stop_price=frame.price(chosen) if chosen is not None else None,
        distance_pct=frame.pct(chosen) if chosen is not None else None,
        fits_risk=fits_risk,
        fits_liquidation=fits_liq,
        cluster_aware_stop_price=frame.price(standard),
        anchor=anchor,
        avoided_clusters=[c for c, (near, _, _) in zip(m.obstacles, m.edges, strict=True)
                          if near < (chosen if chosen is not None else standard)],
        atr_quote=atr_quote,
        buffer_quote=buffer,
        overshoot_pct=overshoot_pct,
        reach_quote=params.reach_atr * atr_quote,
        alternatives=alternatives,
        liquidation_price=(precision.price_toward(liquidation, entry_price)
                           if liquidation is not None else None),
        suggested_leverage=leverage,
        suggested_quantity=precision.quantity_down(suggested) if suggested is not None else None,
        loss_at_stop_quote=loss,
        rationale=_rationale(m, anchor, standard, chosen, fits_risk, fits_liq, margin,
                             overshoot_pct, params, quote_currency, len(pushed)),
        no_stop=why,
    )


def _choose(m: _Map, standard: float, fits_risk: bool, fits_liq: bool,
            limits: _Limits) -> float | None:
    """The stop given: the standard one when it fits both limits; else the best level within
    them; when max loss allows no level outside the entry's cluster, the standard stop (kept
    inside the liquidation limit); None when no level fits inside the liquidation limit."""
    if fits_risk and fits_liq:
        return standard
    if not fits_risk:
        bound = limits.loss if limits.liquidation is None else min(limits.loss,
                                                                  limits.liquidation)
        within = m.best_within(bound)
        if within is not None:
            return within
    return _within_liquidation(m, standard, limits)


def _alternatives(m: _Map, standard: float, anchor: Cluster | None, overshoot: Overshoot,
                  params: StopParams, atr: float, limits: _Limits) -> list[StopLevel]:
    frame = m.frame
    tight, tight_basis = _tight(m, standard, anchor, params, atr)
    wide, wide_basis = _wide(m, standard, anchor, overshoot, params, atr)
    standard_basis = (f"beyond the cluster {_fmt(anchor.price_low)}-{_fmt(anchor.price_high)} "
                      f"with its cascade plus {params.atr_multiple:g} ATR" if anchor is not None
                      else f"{params.plain_atr_multiple:g} ATR (no cluster that matters)")
    levels = []
    for label, x, basis in (("tight", tight, tight_basis), ("standard", standard, standard_basis),
                            ("wide", wide, wide_basis)):
        kept = _within_liquidation(m, x, limits)
        if kept is None:
            continue
        if kept != x:
            basis = f"{basis}, brought inside the liquidation price"
        levels.append(StopLevel(label, frame.price(kept), frame.pct(kept), basis))
    return levels


def _sizing(
    frame: _Frame, chosen: float | None, standard: float, fits: bool, limits: _Limits,
    quantity: float | None, risk_quote: float | None,
) -> tuple[float | None, float | None]:
    """(suggested quantity in base units, loss at the chosen stop in quote)."""
    loss = quantity * chosen if quantity is not None and chosen is not None else None
    if risk_quote is not None:
        target = standard if not fits or chosen is None else chosen
        return risk_quote / target, loss
    if not fits and quantity is not None and limits.loss is not None:
        return quantity * limits.loss / standard, loss
    return None, loss


def _money(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f}{unit}"
    return f"{value:,.0f}"


@dataclass(frozen=True, slots=True)
class _Margin:
    """What the rationale says of the position's margin: the raw liquidation price (quote per
    base, None without a leverage), the gap a stop keeps before it (quote per base), the
    leverage suggested, the position, why no stop is given (None when one is) and the
    farthest distance a stop may take (quote per base)."""

    liquidation: float | None
    gap: float
    leverage: float | None
    position: PositionSpec | None
    no_stop: NoStop | None
    limit: float

    @property
    def by_equity(self) -> bool:
        """Whether the account's equity backs the position (cross with an equity figure),
        so that more equity or a smaller size, not a lower leverage, moves the liquidation
        price away."""
        p = self.position
        return p is not None and p.margin_mode == "cross" and p.account_equity_quote is not None

    @property
    def remedy(self) -> str:
        return "add equity or reduce the size" if self.by_equity else "lower the leverage"


def _rationale(
    m: _Map, anchor: Cluster | None, standard: float, chosen: float | None,
    fits_risk: bool, fits_liq: bool, margin: _Margin, overshoot_pct: float,
    params: StopParams, currency: str, pushed: int,
) -> str:
    frame = m.frame
    side = frame.side
    where = "below" if side == "long" else "above"
    head = f"{side.capitalize()} from {_fmt(frame.entry)}: "
    rule = (f"clusters that matter are {side}-liquidation clusters of intensity >= "
            f"{params.min_intensity:g} whose near edge lies within {params.reach_atr:g} ATR of "
            "the entry")
    if anchor is None:
        text = (f"no cluster that matters {where} the entry ({rule}); the stop is "
                f"{params.plain_atr_multiple:g} ATR away")
    else:
        text = (f"{rule}; the nearest is {_fmt(anchor.price_low)}-{_fmt(anchor.price_high)} "
                f"(intensity {anchor.intensity:.2f}, {_money(anchor.notional_quote)} "
                f"{currency}); a move into it could cascade {overshoot_pct:.2f} % past its far "
                f"edge, so the stop sits beyond that plus {params.atr_multiple:g} ATR "
                f"({_fmt(m.buffer)})")
    if pushed:
        text += (f"; that level fell inside {pushed} more cluster(s), so the stop moves past "
                 "them")
    text += f": {_fmt(frame.price(standard))}, {frame.pct(standard):.2f} % from entry"
    if margin.liquidation is not None:
        text += _liquidation_text(m, margin.liquidation, anchor, standard, chosen, fits_risk,
                                  fits_liq, margin, params, currency)
    if not fits_risk and chosen == standard:
        text += (". That is more than your max loss allows, and no level within it lies "
                 "outside the cluster the entry sits in: keep this stop with the smaller size "
                 "suggested")
    elif not fits_risk and chosen is not None:
        risk = ("a sweep of the cluster would trigger" if anchor is not None
                else "ordinary price noise reaches more often")
        text += (f". That is more than your max loss allows: the best stop within it is "
                 f"{_fmt(frame.price(chosen))} ({frame.pct(chosen):.2f} %), which {risk}; "
                 "consider the smaller size suggested instead")
    return head + text + "."


def _liquidation_text(m: _Map, liquidation: float, anchor: Cluster | None, standard: float,
                      chosen: float | None, fits_risk: bool, fits_liq: bool, margin: _Margin,
                      params: StopParams, currency: str) -> str:
    """The rationale's sentences on the liquidation price: where it is, whether the
    cluster-aware stop keeps the gap in front of it, what would make it, and, when no stop is
    given, the reason (`margin.no_stop`) and the remedy."""
    frame, position = m.frame, margin.position
    distance = frame.distance(liquidation)
    if margin.leverage is not None:
        fix = f"at {margin.leverage:g}x or less it would"
    elif margin.by_equity:
        fix = "the suggested quantity would keep it inside"
    elif position is not None:
        fix = "no leverage keeps it inside (even 1x)"
    else:
        fix = ""
    if margin.no_stop == "liquidated_at_once":
        beyond = "above" if frame.side == "long" else "below"
        backing = (f"the account's equity ({_fmt(position.account_equity_quote or 0.0)} "
                   f"{currency})" if margin.by_equity and position is not None
                   else f"the initial margin at {position.leverage:g}x" if position is not None
                   else "the margin")
        text = (f". The position is liquidated at {_fmt(liquidation)}, "
                + (f"{frame.pct(-distance):.2f} % {beyond} the entry" if distance < 0
                   else "at the entry")
                + f": {backing} does not cover the maintenance margin even at the entry, so "
                f"it would be liquidated at once and no stop can be given: {margin.remedy}")
        if margin.leverage is not None:
            return text + f" (at {margin.leverage:g}x or less the cluster-aware stop fits)"
        if margin.by_equity:
            return text + " (the suggested quantity keeps the cluster-aware stop inside)"
        return text
    text = (f". The position is liquidated at {_fmt(liquidation)} "
            f"({frame.pct(distance):.2f} % away)")
    if fits_liq:
        return text
    text += (f", which the cluster-aware stop does not keep {params.liquidation_gap_atr:g} ATR "
             "in front of")
    if fix:
        text += f"; {fix}"
    gap = (f"{params.liquidation_gap_atr:g} ATR ({_fmt_gap(margin.gap)} {currency})"
           if margin.gap > frame.grid.tick_size else f"one tick ({_fmt(margin.gap)})")
    if margin.no_stop == "within_gap":
        room = ("nearer than the" if distance <= margin.gap
                else "which leaves no price on the tick in front of the")
        text += (f". It lies {_fmt_gap(distance)} {currency} from the entry, {room} {gap} a stop "
                 f"must trigger before it, so no stop can be given: {margin.remedy}")
    elif margin.no_stop == "entry_cluster":
        last = frame.price(frame.snap_toward(margin.limit))
        text += (f". Every level from the entry to {_fmt(last)}, {gap} before it, lies in "
                 f"{_entry_clusters(m, margin.limit)}, so no stop can be given: "
                 f"{margin.remedy}")
    elif chosen is not None and chosen != standard and fits_risk:
        risk = ("a sweep of the cluster would trigger" if anchor is not None
                else "ordinary price noise reaches more often")
        text += (f". The best stop inside it is {_fmt(frame.price(chosen))} "
                 f"({frame.pct(chosen):.2f} %), which {risk}")
    return text


def _entry_clusters(m: _Map, limit: float) -> str:
    """The clusters filling every level from the entry out to `limit` (nearest first; the
    first reaches the entry), as the rationale names them."""
    spanned = [c for c, (near, _, _) in zip(m.obstacles, m.edges, strict=True) if near < limit]
    first = spanned[0]
    at = ("the entry sits in" if m.frame.near(first) <= 0.0
          else "that starts within a tick of the entry")
    text = f"the cluster {_fmt(first.price_low)}-{_fmt(first.price_high)} {at}"
    if len(spanned) > 1:
        text += f" and the {len(spanned) - 1} cluster(s) adjoining it"
    return text
