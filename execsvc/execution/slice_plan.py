"""The cluster-aware slicing planner behind `POST /suggest/slice` (pure functions, no I/O).

`plan_slices` turns a request (side, base quantity, horizon in seconds, strategy) plus the order
book, the calibrated volatility and volume rate and the liquidation-map clusters into child
orders `{t_offset_s, quantity, order_type, limit_price, reason}` whose quantities sum exactly
to the request, and three slippage estimates in bps against the same book and its mid.

Number of slices. A market child should take a small share of the visible depth of the side it
walks and children should be far enough apart for the book to refill:

    n = clamp(ceil(Q / (DEPTH_SHARE * depth)), 1, min(MAX_SLICES, floor(horizon / MIN_INTERVAL_S)))

(and at most one child per lot), evenly spaced `tau = horizon / n` apart, first one at t = 0.

Schedules. `twap`: equal children. `almgren_chriss`: `slicing.almgren_chriss` with `eta` and
`epsilon` calibrated from this book (`impact.impact_from_book`, `tau` seconds, fitted over
child sizes up to the schedule's largest trade, refitted until that settles), `gamma = 0` (a
single book says nothing about permanent impact; in the model it only enters through
`eta - gamma tau / 2`), the caller's `sigma` and `risk_aversion` (default
`DEFAULT_RISK_AVERSION` per quote unit). `pov`: `max_participation` (default
`DEFAULT_MAX_PARTICIPATION`) of the volume rate per interval, for as long as that takes, even
past the horizon (a note says so). `auto`: POV when `max_participation` is given and the horizon
is too short to finish at that participation, otherwise Almgren-Chriss.

Clusters (`auto` and `almgren_chriss` only; the explicit `twap` and `pov` schedules are kept as
asked and a note names the clusters they ignore). For a buy (a sell mirrors it, sides swapped):

- Long-liquidation bands below the price: forced selling there would fill resting buy limits.
  A limit is placed at the band's peak (its middle when no peak is given), rounded down to the
  tick. The chance the price trades down to it within the horizon is taken from a driftless
  random walk (reflection principle) `p = erfc(d / (sigma sqrt(2 horizon)))`, `d` the distance
  from the mid. The band gets `MAX_LIMIT_FRACTION * intensity * p` of the order (bands with
  `p < MIN_REACH_PROBABILITY` get nothing), all bands together at most `MAX_LIMIT_FRACTION`.
- Short-liquidation bands above the price: a cluster counts as ahead when the price reaches its
  near edge within the horizon with `p >= MIN_REACH_PROBABILITY` or one market order for the
  whole quantity would walk into it. The market schedule is then front-loaded, multiplying the
  trade of slice j by `exp(-beta j / n)` (renormalised), `beta = FRONT_LOAD_MAX * intensity *
  urgency`, urgency 1 when one market order would reach the band, else p; and slices are added
  (up to the bound on n) until every market child's walk stays below the band.

Slippage (bps, positive = cost, vs the book's mid). The book is assumed to refill between
children, so each market child's cost is its own `walk_book` of the same book; limit children
are assumed to fill at their limit price (negative slippage). The plan's figure is the
quantity-weighted average over all children; `plan_slippage_bps_if_limits_unfilled` instead
buys the limit quantity with one more market order at the end. One market order walks the whole
quantity at once; TWAP walks `n_slices` equal children.

Quantities are rounded to the lot (the `lot_size` argument, else the coarsest power of ten that
divides every size in the book, else the power of ten at or below its smallest size); what the
rounding leaves goes on the last child. To make the float sum exact, every other child is then
rounded down to the grid `ulp(quantity)` (a change below 2.3e-16 of the request) and the last
one is the request minus the others: all partial sums are exact, so the children sum to the
request exactly in any order (`exact_split`); round a child to the lot's decimals before
sending it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from execsvc.domain.book import OrderBook, walk_book
from execsvc.domain.units import OrderSide
from execsvc.execution.impact import book_side, half_spread, impact_from_book, price_tick
from execsvc.execution.slicing import almgren_chriss, pov_schedule

STRATEGIES = ("auto", "twap", "almgren_chriss", "pov")

DEFAULT_RISK_AVERSION = 1e-6
DEFAULT_MAX_PARTICIPATION = 0.10
DEPTH_SHARE = 0.02
MIN_INTERVAL_S = 5.0
MAX_SLICES = 120
MAX_LIMIT_FRACTION = 0.30
MAX_POV_DURATION_S = 30 * 86_400.0
MAX_LOTS = 2.0**53
"""Lot counts are exact integers in float64 only up to 2**53."""
MIN_REACH_PROBABILITY = 0.05
FRONT_LOAD_MAX = 2.0
AC_FIT_ROUNDS = 8
# Books whose price differs from the map's price by more than this get a stale-map note.
MAP_PRICE_TOLERANCE = 0.01


class SlicePlanError(ValueError):
    """Bad input to `plan_slices`; `field` names the offending request field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ClusterLike(Protocol):
    """What the planner reads from a liquidation cluster (`execsvc.liqmap.clusters.Cluster`).

    `side` is 'long' (long liquidations, below the price) or 'short' (above); prices in quote
    units, `notional_quote` the estimated liquidation notional, `intensity` in [0, 1] relative
    to the map's densest band. A `peak_price` attribute is used when present.
    """

    side: str
    price_low: float
    price_high: float
    notional_quote: float
    intensity: float


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """One child: start `t_offset_s` seconds after the plan starts, `quantity` base units,
    'market' or 'limit' (then `limit_price`, quote units), and a sentence saying why."""

    t_offset_s: float
    quantity: float
    order_type: Literal["market", "limit"]
    limit_price: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class SlicePlan:
    """A slicing plan and its slippage estimates (bps vs `mid_price`, positive = cost).

    `n_slices` market slices `slice_interval_s` apart; `eta` (quote per base per base/s),
    `epsilon` (quote per base) and `sigma` (quote per base per sqrt(s)) are the calibrated
    Almgren-Chriss inputs (`eta` from this book with `tau = slice_interval_s`);
    `risk_aversion` is per quote unit (None unless Almgren-Chriss was used).
    """

    side: OrderSide
    quantity: float
    horizon_s: float
    strategy_requested: str
    strategy_used: str
    children: tuple[ChildOrder, ...]
    n_slices: int
    slice_interval_s: float
    mid_price: float
    lot_size: float
    plan_slippage_bps: float
    plan_slippage_bps_if_limits_unfilled: float
    market_slippage_bps: float
    twap_slippage_bps: float
    eta: float
    epsilon: float
    sigma: float
    risk_aversion: float | None
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Request:
    side: OrderSide
    quantity: float
    horizon_s: float
    strategy: str
    risk_aversion: float | None
    max_participation: float | None
    sigma: float
    volume_rate: float
    lot_size: float | None
    price: float | None
    base: str
    quote: str


@dataclass(frozen=True, slots=True)
class _Market:
    """The walked side of the book and what is derived from it."""

    levels: np.ndarray
    mid: float
    best_bid: float
    best_ask: float
    depth: float
    tick: float
    price_decimals: int | None
    lot: float
    sign: float


@dataclass(frozen=True, slots=True)
class _Band:
    """A limit child placed in a liquidation band on the fill side."""

    cluster: ClusterLike
    limit_price: float
    reach_probability: float
    fraction: float


@dataclass(frozen=True, slots=True)
class _Ahead:
    """A liquidation cluster in the direction the order pushes the price."""

    cluster: ClusterLike
    near_edge: float
    reach_probability: float
    market_reaches: bool
    beta: float
    safe_child: float


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Market slice weights (sum 1) at `times`, a reason per slice and plan-level facts."""

    strategy: str
    weights: np.ndarray
    times: np.ndarray
    reasons: list[str]
    interval_s: float
    eta: float
    risk_aversion: float | None
    notes: list[str]


# ----------------------------------------------------------------------------- validation


def _number(field: str, value: object, *, positive: bool) -> float:
    """`value` as a finite float, > 0 when `positive` else >= 0; SlicePlanError naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SlicePlanError(field, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SlicePlanError(field, f"must be finite, got {value!r}")
    if positive and number <= 0.0:
        raise SlicePlanError(field, f"must be > 0, got {value!r}")
    if number < 0.0:
        raise SlicePlanError(field, f"must be >= 0, got {value!r}")
    return number


def _optional(field: str, value: object, *, positive: bool) -> float | None:
    """None, or `_number(field, value, positive=positive)`."""
    return None if value is None else _number(field, value, positive=positive)


def _check_clusters(clusters: Sequence[ClusterLike]) -> None:
    """Each cluster has side 'long'|'short', finite numbers and 0 < price_low <= price_high."""
    for index, cluster in enumerate(clusters):
        fields = ("price_low", "price_high", "notional_quote", "intensity")
        values = [getattr(cluster, name, None) for name in fields]
        if getattr(cluster, "side", None) not in ("long", "short") or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in values
        ):
            raise SlicePlanError(
                "clusters",
                f"cluster {index} needs side 'long'|'short' and finite "
                "price_low, price_high, notional_quote, intensity",
            )
        if not 0.0 < cluster.price_low <= cluster.price_high:
            raise SlicePlanError("clusters", f"cluster {index} needs 0 < price_low <= price_high")


def _validate(
    side: str, quantity: object, horizon_s: object, strategy: str, risk_aversion: object,
    max_participation: object, sigma: object, volume_rate: object, lot_size: object,
    price: object, base: str, quote: str,
) -> _Request:
    """The request with every field checked (SlicePlanError names the first bad one)."""
    if side not in ("buy", "sell"):
        raise SlicePlanError("side", f"must be 'buy' or 'sell', got {side!r}")
    if strategy not in STRATEGIES:
        allowed = ", ".join(STRATEGIES)
        raise SlicePlanError("strategy", f"must be one of {allowed}, got {strategy!r}")
    participation = _optional("max_participation", max_participation, positive=True)
    if participation is not None and participation > 1.0:
        raise SlicePlanError("max_participation", f"must be in (0, 1], got {max_participation!r}")
    return _Request(
        side="buy" if side == "buy" else "sell",
        quantity=_number("quantity", quantity, positive=True),
        horizon_s=_number("horizon_s", horizon_s, positive=True),
        strategy=strategy,
        risk_aversion=_optional("risk_aversion", risk_aversion, positive=False),
        max_participation=participation,
        sigma=_number("sigma_quote_per_sqrt_s", sigma, positive=False),
        volume_rate=_number("volume_rate_base_per_s", volume_rate, positive=False),
        lot_size=_optional("lot_size", lot_size, positive=True),
        price=_optional("price", price, positive=True),
        base=base,
        quote=quote,
    )


# ----------------------------------------------------------------------------- the book


def decimals_of(values: np.ndarray) -> int | None:
    """The fewest decimals d (0..12) with every value within 1e-6 units of 10**-d of a multiple
    of 10**-d, or None."""
    arr = np.asarray(values, dtype=np.float64)
    for decimals in range(13):
        scaled = arr * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6):
            return decimals
    return None


def infer_lot_size(sizes: np.ndarray) -> float:
    """The coarsest power of ten (1 down to 1e-12) that divides every size of the book; when
    none does, the power of ten at or below the smallest size."""
    arr = np.asarray(sizes, dtype=np.float64)
    arr = arr[arr > 0.0]
    if arr.size == 0:
        raise SlicePlanError("book", "has no positive sizes")
    decimals = decimals_of(arr)
    if decimals is not None:
        return 10.0**-decimals
    return 10.0 ** math.floor(math.log10(float(arr.min())))


def _tick(bids: np.ndarray, asks: np.ndarray) -> tuple[float, int | None]:
    """(tick, price decimals): the smallest price step of the book, rounded to the decimals
    its prices are quoted in (None when they have no short decimal form)."""
    prices = np.concatenate([bids[:, 0], asks[:, 0]])
    decimals = decimals_of(prices)
    raw = price_tick(np.concatenate([bids, asks[::-1]]))
    return (round(raw, decimals) if decimals is not None else raw), decimals


def _market(book: OrderBook, request: _Request) -> _Market:
    """The walked side, mid, best prices, visible depth, tick and lot of `book`."""
    bids = np.asarray(book.bids, dtype=np.float64)
    asks = np.asarray(book.asks, dtype=np.float64)
    if bids.ndim != 2 or asks.ndim != 2 or len(bids) == 0 or len(asks) == 0:
        raise SlicePlanError("book", "needs at least one bid and one ask level")
    levels = book_side(book, request.side)
    sizes = np.concatenate([bids[:, 1], asks[:, 1]])
    lot = request.lot_size if request.lot_size is not None else infer_lot_size(sizes)
    tick, decimals = _tick(bids, asks)
    return _Market(
        levels=levels,
        mid=book.mid,
        best_bid=float(bids[0, 0]),
        best_ask=float(asks[0, 0]),
        depth=float(levels[:, 1].sum()),
        tick=tick,
        price_decimals=decimals,
        lot=lot,
        sign=1.0 if request.side == "buy" else -1.0,
    )


def slice_count(quantity: float, depth: float, horizon_s: float, lot: float) -> int:
    """n = clamp(ceil(Q / (DEPTH_SHARE depth)), 1, min(MAX_SLICES, horizon / MIN_INTERVAL_S,
    Q / lot))."""
    wanted = math.ceil(quantity / (DEPTH_SHARE * depth))
    bound = min(MAX_SLICES, math.floor(horizon_s / MIN_INTERVAL_S), math.floor(quantity / lot))
    return max(1, min(wanted, bound))


# ----------------------------------------------------------------------------- clusters


def reach_probability(distance: float, sigma: float, horizon_s: float) -> float:
    """P(a driftless random walk with volatility `sigma` (quote per sqrt(s)) moves `distance`
    (quote) away from its start within `horizon_s`): erfc(d / (sigma sqrt(2 T))) (1 at d <= 0)."""
    if distance <= 0.0:
        return 1.0
    if sigma <= 0.0:
        return 0.0
    return math.erfc(distance / (sigma * math.sqrt(2.0 * horizon_s)))


def _fill_side(side: OrderSide) -> str:
    """The cluster side whose forced orders fill our limits: long liquidations sell (fill our
    buys), short liquidations buy (fill our sells)."""
    return "long" if side == "buy" else "short"


def _band_limit_price(cluster: ClusterLike, market: _Market) -> float | None:
    """The band's peak (or middle) rounded away from the mid to the tick, if it rests passively
    (below the best bid for a buy, above the best ask for a sell)."""
    peak = getattr(cluster, "peak_price", None)
    numeric = isinstance(peak, int | float) and math.isfinite(peak)
    inside = numeric and cluster.price_low <= peak <= cluster.price_high
    target = peak if inside else (cluster.price_low + cluster.price_high) / 2.0
    rounding = math.floor if market.sign > 0 else math.ceil
    limit = rounding(target / market.tick - market.sign * 1e-9) * market.tick
    if market.price_decimals is not None:
        limit = round(limit, market.price_decimals)
    if market.sign > 0:
        return limit if cluster.price_low <= limit < market.best_bid else None
    return limit if market.best_ask < limit <= cluster.price_high else None


def _bands(
    clusters: Sequence[ClusterLike], market: _Market, request: _Request
) -> list[_Band]:
    """Limit placements in the fill-side bands, fractions capped at MAX_LIMIT_FRACTION total."""
    found = []
    for cluster in clusters:
        if cluster.side != _fill_side(request.side):
            continue
        limit = _band_limit_price(cluster, market)
        if limit is None:
            continue
        p = reach_probability(abs(market.mid - limit), request.sigma, request.horizon_s)
        fraction = MAX_LIMIT_FRACTION * min(max(cluster.intensity, 0.0), 1.0) * p
        if p >= MIN_REACH_PROBABILITY and fraction > 0.0:
            found.append(_Band(cluster, limit, p, fraction))
    total = sum(band.fraction for band in found)
    if total > MAX_LIMIT_FRACTION:
        scale = MAX_LIMIT_FRACTION / total
        found = [_Band(b.cluster, b.limit_price, b.reach_probability, b.fraction * scale)
                 for b in found]
    return sorted(found, key=lambda b: -b.fraction)


def _safe_child(market: _Market, near_edge: float) -> float:
    """Base quantity a market child can take before its walk reaches `near_edge`."""
    prices, sizes = market.levels[:, 0], market.levels[:, 1]
    below = prices < near_edge if market.sign > 0 else prices > near_edge
    return float(sizes[below].sum())


def _ahead(
    clusters: Sequence[ClusterLike], market: _Market, request: _Request
) -> _Ahead | None:
    """The nearest cluster in the push direction that the price may reach (see module doc)."""
    push_side = "short" if request.side == "buy" else "long"
    worst = walk_book(market.levels, request.quantity, request.side).worst_price
    best: _Ahead | None = None
    for cluster in clusters:
        if cluster.side != push_side:
            continue
        edge = cluster.price_low if market.sign > 0 else cluster.price_high
        distance = market.sign * (edge - market.mid)
        if distance <= 0.0:
            continue
        p = reach_probability(distance, request.sigma, request.horizon_s)
        reaches = market.sign * (worst - edge) >= 0.0
        if p < MIN_REACH_PROBABILITY and not reaches:
            continue
        urgency = 1.0 if reaches else p
        beta = FRONT_LOAD_MAX * min(max(cluster.intensity, 0.0), 1.0) * urgency
        candidate = _Ahead(cluster, edge, p, reaches, beta, _safe_child(market, edge))
        if best is None or distance < market.sign * (best.near_edge - market.mid):
            best = candidate
    return best


# ----------------------------------------------------------------------------- schedules


def _fmt(value: float, digits: int = 8) -> str:
    """A number for a sentence: `digits` significant digits with thousands separators."""
    return f"{value:,.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _twap(n: int, tau: float) -> _Schedule:
    """n equal weights, tau apart."""
    times = np.arange(n, dtype=np.float64) * tau
    reasons = [
        f"TWAP slice {j + 1} of {n} at t+{times[j]:g} s: an equal share of the order, evenly "
        "spaced so the book can refill between children."
        for j in range(n)
    ]
    return _Schedule("twap", np.full(n, 1.0 / n), times, reasons, tau, 0.0, None, [])


def _almgren_chriss(
    n: int, tau: float, quantity: float, book: OrderBook, request: _Request
) -> _Schedule:
    """Almgren-Chriss weights with gamma = 0 and eta, epsilon fitted on `book`.

    The linear fit should cover the children the schedule actually sends: it starts over sizes
    up to the even slice `Q / n`, then is refitted up to the largest trade of the resulting
    schedule until that size settles (at most AC_FIT_ROUNDS fits).
    """
    lam = DEFAULT_RISK_AVERSION if request.risk_aversion is None else request.risk_aversion
    reach = quantity / n
    for _ in range(AC_FIT_ROUNDS):
        fit = impact_from_book(book, request.side, reach, tau)
        ac = almgren_chriss(quantity, n, tau, request.sigma, fit.eta, 0.0, fit.epsilon, lam)
        largest = float(np.max(ac.trades))
        if abs(largest - reach) <= 0.01 * reach:
            break
        reach = largest
    weights = np.asarray(ac.trades) / quantity
    pace = ("trading faster early to cut price risk" if ac.kappa * ac.horizon > 1e-3
            else "at an even pace (no price-risk penalty)")
    half_life = "" if ac.kappa == 0.0 else f", half-life {ac.half_life:,.0f} s"
    reasons = [
        f"Almgren-Chriss slice {j + 1} of {n} at t+{ac.times[j]:g} s: "
        f"{weights[j] * 100:.1f}% of the scheduled quantity, {pace} (risk aversion "
        f"{lam:g} per {request.quote}{half_life})."
        for j in range(n)
    ]
    floor = " (floored: the book is flat over that range)" if fit.floored else ""
    notes = [
        f"Temporary impact: eta = {fit.eta:.6g} {request.quote}*s/{request.base}^2 = slope "
        f"{fit.slope_quote_per_base2:.6g} {request.quote}/{request.base}^2 * tau {tau:g} s, "
        "least-squares fit through the origin of the book-walk cost beyond the half-spread for "
        f"children up to {_fmt(float(fit.quantities[-1]))} {request.base} "
        f"(R^2 {fit.r_squared:.3f}){floor}; epsilon = half-spread {fit.epsilon:.6g} "
        f"{request.quote}; gamma = 0 (no permanent impact from one book).",
        f"Model cost of the market schedule: E = {ac.expected_cost:,.2f} {request.quote}, "
        f"std = {math.sqrt(ac.variance):,.2f} {request.quote} (sigma {request.sigma:.6g} "
        f"{request.quote}/sqrt(s)).",
    ]
    return _Schedule("almgren_chriss", weights, np.asarray(ac.times), reasons, tau, fit.eta,
                     lam, notes)


def _pov(quantity: float, tau: float, market: _Market, request: _Request) -> _Schedule:
    """`slicing.pov_schedule` at the given (or default) participation; the interval is `tau`,
    shortened (not below MIN_INTERVAL_S) when a child would exceed DEPTH_SHARE of the depth and
    lengthened when more than MAX_SLICES children would be needed."""
    if request.volume_rate <= 0.0:
        raise SlicePlanError("volume_rate_base_per_s", "must be > 0 for a POV schedule")
    share = request.max_participation or DEFAULT_MAX_PARTICIPATION
    rate = share * request.volume_rate
    duration = quantity / rate if rate > 0.0 else math.inf
    if not duration <= MAX_POV_DURATION_S:
        raise SlicePlanError(
            "max_participation",
            f"{share:g} of {_fmt(request.volume_rate, 4)} {request.base}/s would take "
            f"{duration:.3g} s to fill {_fmt(quantity, 6)} {request.base}; "
            f"at most {MAX_POV_DURATION_S:g} s is planned",
        )
    interval = tau
    if rate * interval > DEPTH_SHARE * market.depth:
        interval = max(MIN_INTERVAL_S, DEPTH_SHARE * market.depth / rate)
    interval = max(interval, quantity / (rate * MAX_SLICES))
    pov = pov_schedule(quantity, request.volume_rate, share, interval)
    n = len(pov.trades)
    reasons = [
        f"POV slice {j + 1} of {n} at t+{pov.times[j]:g} s: at most {share * 100:g}% of the "
        f"expected {_fmt(request.volume_rate, 4)} {request.base}/s market volume over "
        f"{interval:g} s."
        for j in range(n)
    ]
    notes = []
    if pov.duration_s > request.horizon_s * (1.0 + 1e-9):
        notes.append(
            f"At {share * 100:g}% participation the order needs {pov.duration_s:,.0f} s, "
            f"longer than the {request.horizon_s:g} s horizon; the schedule keeps the "
            "participation limit and runs past the horizon."
        )
    weights = np.asarray(pov.trades) / quantity
    return _Schedule("pov", weights, np.asarray(pov.times), reasons, interval, 0.0, None, notes)


def _front_load(schedule: _Schedule, ahead: _Ahead, request: _Request) -> _Schedule:
    """Multiply slice j's weight by exp(-beta j / n) and renormalise; say why in each reason."""
    n = len(schedule.weights)
    if n == 1 or ahead.beta <= 0.0:
        return schedule
    tilt = np.exp(-ahead.beta * np.arange(n) / n)
    pace = tilt / float((schedule.weights * tilt).sum())
    weights = schedule.weights * pace
    c = ahead.cluster
    direction = "above" if request.side == "buy" else "below"
    verb = "buying" if request.side == "buy" else "selling"
    liq = "short" if request.side == "buy" else "long"
    why = ("one market order for the whole quantity would walk into it" if ahead.market_reaches
           else f"the price reaches it within the horizon with probability "
                f"{ahead.reach_probability:.0%}")
    reasons = [
        f"{reason} Pace x{pace[j]:.2f} of that schedule, front-loaded "
        f"to finish {verb} ahead of the {liq}-liquidation cluster {_fmt(c.price_low)}-"
        f"{_fmt(c.price_high)} {direction} the price (intensity {c.intensity:.2f}): {why}, and "
        f"forced {'buying' if liq == 'short' else 'selling'} there would move the price "
        "against the rest of the order."
        for j, reason in enumerate(schedule.reasons)
    ]
    return _Schedule(schedule.strategy, weights, schedule.times, reasons, schedule.interval_s,
                     schedule.eta, schedule.risk_aversion, schedule.notes)


# ----------------------------------------------------------------------------- quantities


def _lot_decimals(lot: float) -> int | None:
    """d with lot == 10**-d (d >= 0), else None."""
    decimals = -math.log10(lot)
    rounded = round(decimals)
    return rounded if rounded >= 0 and abs(decimals - rounded) < 1e-9 else None


def _lots_to_quantity(lots: int, lot: float) -> float:
    """lots * lot, rounded to the lot's decimals when it is a power of ten."""
    decimals = _lot_decimals(lot)
    value = lots * lot
    return round(value, decimals) if decimals is not None else value


def split_in_lots(weights: np.ndarray, total_lots: int) -> np.ndarray:
    """Integer lots per weight summing to `total_lots`: differences of the rounded cumulative
    weights (so every entry is >= 0 and the rounding never accumulates)."""
    cumulative = np.cumsum(weights) / np.sum(weights)
    cum_lots = np.round(cumulative * total_lots).astype(np.int64)
    cum_lots[-1] = total_lots
    return np.diff(np.concatenate([[0], cum_lots]))


def exact_split(values: list[float], total: float) -> list[float]:
    """`values` (all >= 0, summing to about `total`) adjusted to sum to `total` exactly.

    Every value but the last is rounded down to the grid `g = ulp(total)` (a power of two; a
    change of less than g) and the last becomes `total - sum(others)` (>= the last value, so
    >= 0). Every partial sum is then a multiple of g no larger than `total`, hence an exact
    float: the values sum to `total` exactly, in any order, with `sum` as with `math.fsum`.
    """
    grid = math.ulp(total)
    head = [math.floor(v / grid) * grid for v in values[:-1]]
    return [*head, total - math.fsum(head)]


# ----------------------------------------------------------------------------- slippage


def _aggregate_bps(
    walks: list[tuple[float, float]], market: _Market
) -> float:
    """sign * (sum notional / sum filled - mid) / mid * 1e4 over (filled, notional) pairs."""
    filled = sum(f for f, _ in walks)
    notional = sum(n for _, n in walks)
    return market.sign * (notional / filled - market.mid) / market.mid * 1e4


def _walk(market: _Market, quantity: float, side: OrderSide) -> tuple[float, float]:
    """(filled base, notional quote) of one market order walking the book."""
    walk = walk_book(market.levels, quantity, side, reference_price=market.mid)
    return walk.filled_quantity, walk.notional_quote


def _children_bps(
    children: Sequence[ChildOrder], market: _Market, side: OrderSide, limits_fill: bool
) -> float:
    """Plan slippage: market children walk the book, limit children fill at their price (or,
    with `limits_fill` False, are bought with one extra market order walking the book)."""
    walks = [_walk(market, c.quantity, side) for c in children if c.order_type == "market"]
    limit = [c for c in children if c.order_type == "limit"]
    if limits_fill:
        walks += [(c.quantity, c.quantity * (c.limit_price or market.mid)) for c in limit]
    elif limit:
        walks.append(_walk(market, sum(c.quantity for c in limit), side))
    return _aggregate_bps(walks, market)


# ----------------------------------------------------------------------------- assembly


def _band_children(
    bands: list[_Band], market: _Market, request: _Request
) -> list[ChildOrder]:
    """One resting limit child per band, its fraction of the order rounded down to lots."""
    children = []
    verb, done = ("buy", "bought") if request.side == "buy" else ("sell", "sold")
    forced = "selling" if request.side == "buy" else "buying"
    better = "below" if request.side == "buy" else "above"
    for band in bands:
        lots = math.floor(band.fraction * request.quantity / market.lot + 1e-9)
        if lots < 1:
            continue
        c = band.cluster
        where = "below" if request.side == "buy" else "above"
        children.append(ChildOrder(
            t_offset_s=0.0,
            quantity=_lots_to_quantity(lots, market.lot),
            order_type="limit",
            limit_price=band.limit_price,
            reason=(
                f"Resting limit {verb} at {_fmt(band.limit_price)} inside the {c.side}-"
                f"liquidation band {_fmt(c.price_low)}-{_fmt(c.price_high)} {where} the price "
                f"(~{_fmt(c.notional_quote, 3)} {request.quote} of estimated liquidations, "
                f"intensity {c.intensity:.2f}): forced {forced} there would fill it {better} the "
                f"mid. The price reaches it within the horizon with probability "
                f"{band.reach_probability:.0%} (driftless random walk), so it holds "
                f"{band.fraction:.1%} of the order (30% x intensity x probability, at most 30% "
                f"over all bands); whatever has not filled at t+{request.horizon_s:g} s is to "
                f"be {done} at market."
            ),
        ))
    return children


def _market_children(
    schedule: _Schedule, quantity: float, total: float, market: _Market, request: _Request,
    lead: list[ChildOrder],
) -> list[ChildOrder]:
    """The `lead` children followed by the lot-rounded market children for `quantity`; the last
    one also carries what rounding leaves, and `exact_split` makes everything sum exactly to
    `total`."""
    total_lots = math.floor(quantity / market.lot + 1e-9)
    lots = split_in_lots(schedule.weights, total_lots) if total_lots > 0 else None
    children = []
    for j, reason in enumerate(schedule.reasons):
        q = _lots_to_quantity(int(lots[j]), market.lot) if lots is not None else 0.0
        if q > 0.0 or (lots is None and j == len(schedule.reasons) - 1):
            children.append(ChildOrder(float(schedule.times[j]), q, "market", None, reason))
    if not children:
        children = [ChildOrder(0.0, 0.0, "market", None, schedule.reasons[0])]
    remainder = quantity - total_lots * market.lot
    if remainder > market.lot * 1e-6:
        last = children[-1]
        children[-1] = ChildOrder(
            last.t_offset_s, last.quantity, "market", None,
            f"{last.reason} Also carries the {_fmt(remainder, 6)} {request.base} left after "
            f"rounding the children to the {_fmt(market.lot)} {request.base} lot.",
        )
    everything = lead + children
    amounts = exact_split([c.quantity for c in everything], total)
    exact = [ChildOrder(c.t_offset_s, q, c.order_type, c.limit_price, c.reason)
             for c, q in zip(everything, amounts, strict=True)]
    return [c for c in exact[:-1] if c.quantity > 0.0] + exact[-1:]


def _refine_for_ahead(
    n: int, bound: int, weights_max: float, quantity: float, ahead: _Ahead | None
) -> int:
    """More slices (up to `bound`) so the largest market child stays below the ahead band."""
    if ahead is None or ahead.safe_child <= 0.0:
        return n
    largest = weights_max * quantity
    if largest <= ahead.safe_child:
        return n
    return min(bound, max(n + 1, math.ceil(n * largest / ahead.safe_child)))


def _choose_strategy(request: _Request) -> str:
    """The asked strategy, or for 'auto': POV when `max_participation` of the volume rate cannot
    finish within the horizon, else Almgren-Chriss."""
    if request.strategy != "auto":
        return request.strategy
    participation = request.max_participation
    if participation is not None and request.volume_rate > 0.0 and (
        request.quantity > participation * request.volume_rate * request.horizon_s
    ):
        return "pov"
    return "almgren_chriss"


def _schedule(
    strategy: str, n: int, scheduled: float, book: OrderBook, market: _Market,
    request: _Request,
) -> _Schedule:
    """The market schedule of `strategy` for `scheduled` base units in n slices."""
    tau = request.horizon_s / n
    if strategy == "twap":
        return _twap(n, tau)
    if strategy == "pov":
        return _pov(scheduled, tau, market, request)
    return _almgren_chriss(n, tau, scheduled, book, request)


def _cluster_notes(
    clusters: Sequence[ClusterLike], market: _Market, request: _Request, used: bool
) -> list[str]:
    """Notes on a map priced away from the book and on clusters an explicit strategy ignores."""
    notes = []
    if request.price is not None and abs(market.mid / request.price - 1.0) > MAP_PRICE_TOLERANCE:
        notes.append(
            f"The book's mid {_fmt(market.mid)} is more than {MAP_PRICE_TOLERANCE:.0%} from the "
            f"map's price {_fmt(request.price)}; the clusters may be stale."
        )
    if clusters and not used:
        notes.append(
            f"Strategy '{request.strategy}' was asked for explicitly, so its schedule ignores "
            f"the {len(clusters)} liquidation cluster(s); 'auto' would use them."
        )
    return notes


def _plan_notes(
    market: _Market, request: _Request, schedule: _Schedule, market_walk_filled: float
) -> list[str]:
    """The refill assumption, a book too thin for one market order, and the schedule's notes."""
    notes = [
        "Slippage assumes the book refills between children: each market child is costed by "
        "walking the same book on its own; limit children are assumed to fill at their price.",
    ]
    if market_walk_filled < request.quantity:
        notes.append(
            f"One market order would exhaust the visible {_fmt(market.depth)} {request.base}; "
            "its slippage covers the part that fills."
        )
    return notes + schedule.notes


def plan_slices(
    book: OrderBook,
    side: OrderSide,
    quantity: float,
    horizon_s: float,
    strategy: str = "auto",
    risk_aversion: float | None = None,
    max_participation: float | None = None,
    *,
    sigma_quote_per_sqrt_s: float,
    volume_rate_base_per_s: float,
    clusters: Sequence[ClusterLike] = (),
    price: float | None = None,
    lot_size: float | None = None,
    base_currency: str = "base",
    quote_currency: str = "quote",
) -> SlicePlan:
    """Plan the child orders of a `side` order of `quantity` base units over `horizon_s`
    seconds (method, formulas and assumptions in the module docstring).

    `sigma_quote_per_sqrt_s` and `volume_rate_base_per_s` come from
    `execsvc.execution.impact` (candles); `clusters` from the liquidation map computed at
    `price`; `lot_size` overrides the lot inferred from the book; the currency names only
    appear in reasons and notes. Raises `SlicePlanError` (a ValueError whose `field` names the
    request field) for an unknown side or strategy, a quantity or horizon that is not finite
    and > 0, a negative or non-finite risk aversion, volatility or volume rate, a participation
    outside (0, 1], malformed clusters, or a POV schedule without volume.
    """
    request = _validate(side, quantity, horizon_s, strategy, risk_aversion, max_participation,
                        sigma_quote_per_sqrt_s, volume_rate_base_per_s, lot_size, price,
                        base_currency, quote_currency)
    _check_clusters(clusters)
    market = _market(book, request)
    if request.quantity < market.lot:
        raise SlicePlanError(
            "quantity", f"{request.quantity:g} is below the lot size {market.lot:g} {request.base}"
        )
    if request.quantity / market.lot > MAX_LOTS:
        raise SlicePlanError(
            "quantity", f"{request.quantity:g} is more than {MAX_LOTS:g} lots of {market.lot:g}"
        )
    strategy_used = _choose_strategy(request)
    cluster_aware = request.strategy in ("auto", "almgren_chriss")
    bands = _bands(clusters, market, request) if cluster_aware else []
    ahead = _ahead(clusters, market, request) if cluster_aware else None
    lead = _band_children(bands, market, request)
    scheduled = request.quantity - sum(c.quantity for c in lead)
    bound = max(1, min(MAX_SLICES, math.floor(request.horizon_s / MIN_INTERVAL_S),
                       math.floor(scheduled / market.lot)))
    n = slice_count(scheduled, market.depth, request.horizon_s, market.lot)
    schedule = _schedule(strategy_used, n, scheduled, book, market, request)
    if ahead is not None and strategy_used != "pov":
        schedule = _front_load(schedule, ahead, request)
        refined = _refine_for_ahead(n, bound, float(schedule.weights.max()), scheduled, ahead)
        if refined != n:
            n = refined
            schedule = _front_load(
                _schedule(strategy_used, n, scheduled, book, market, request), ahead, request
            )
    children = _market_children(schedule, scheduled, request.quantity, market, request, lead)
    market_walk = walk_book(market.levels, request.quantity, request.side, market.mid)
    n_market = len(schedule.weights)
    twap_child = _walk(market, request.quantity / n_market, request.side)
    fit_eta = schedule.eta if schedule.eta > 0.0 else impact_from_book(
        book, request.side, min(scheduled, 2.0 * scheduled / n_market), schedule.interval_s
    ).eta
    return SlicePlan(
        side=request.side,
        quantity=request.quantity,
        horizon_s=request.horizon_s,
        strategy_requested=request.strategy,
        strategy_used=strategy_used,
        children=tuple(children),
        n_slices=n_market,
        slice_interval_s=schedule.interval_s,
        mid_price=market.mid,
        lot_size=market.lot,
        plan_slippage_bps=_children_bps(children, market, request.side, True),
        plan_slippage_bps_if_limits_unfilled=_children_bps(children, market, request.side,
                                                           False),
        market_slippage_bps=market_walk.slippage_bps,
        twap_slippage_bps=_aggregate_bps([twap_child], market),
        eta=fit_eta,
        epsilon=half_spread(book),
        sigma=request.sigma,
        risk_aversion=schedule.risk_aversion,
        notes=tuple(_plan_notes(market, request, schedule, market_walk.filled_quantity)
                    + _cluster_notes(clusters, market, request, cluster_aware)),
    )
