"""How an order book refills after market orders took from it, and how fast that is on the
recorded Binance BTCUSDT books (pure numpy; no I/O).

**Model** (`ResilientSide`). One side of the book holds `size_k` base units at `price_k` (walk
order, best first). A market order walks what is there now, `max(size_k - deficit_k, 0)`,
and what it takes adds to the deficit of those levels. Between orders every deficit decays
exponentially, `deficit(t + dt) = deficit(t) * exp(-rate * dt)`: the book's resilience, `rate`
per second (half-life `ln 2 / rate`). Nothing else moves the prices (no permanent impact), so
every cost is against the arrival mid. Past the visible levels the side is continued at its
average depth density (`domain.book.extend_book`); an order that reaches that part is
*extrapolated*. `rate = inf` is the old assumption (the book refills completely between
orders); `rate = 0` a book that never refills (the orders walk it as one).

**Calibration** (`recovery_curves`, `fit_recovery_rate`), an event study on the recorded
depth diffs (`scripts/calibrate_resilience.py` rebuilds the books and runs it):

- the series is the depth within `band_bps` of the current mid on one side, after every diff;
- an event is a burst of taker orders hitting that side: at least `min_burst_base` within
  `burst_ms`, at least `quiet_ms` after the previous event on that side;
- the pre-event depth `D0` is the mean of the depth 1000, 750, 500, 250 and 1 ms before the
  burst; the deficit is `D0 - D(t)`; an event counts when the deficit just after the burst is at
  least `min_deficit_share` of `D0`;
- each event's recovery curve is its deficit at `lags_ms` after the burst over the deficit
  just after it (1 = nothing refilled, 0 = all of it);
- the rate minimises the mean absolute gap between the curves (clipped to [-1, 2], so one
  event whose depth swings with the price cannot dominate) and `exp(-rate * lag)`, over a
  log grid of rates.

`RECOVERY_RATE_PER_S` was fitted on the 2024-07-18/19 recording and checked on 2024-08-08
(DATA.md, "Book resilience").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from execsvc.domain.book import EXTRAPOLATE_TO_PCT, extend_book

RECOVERY_RATE_PER_S = 0.4157
"""Fitted on Binance USD-M BTCUSDT 2024-07-18/19 (half-life 1.67 s); see DATA.md."""
LAGS_MS = (100, 200, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 20_000)
PRE_EVENT_MS = (1_000, 750, 500, 250, 1)
RATE_GRID = np.logspace(-3.0, 1.5, 300)


def half_life_s(rate: float) -> float:
    """ln 2 / rate (inf for a book that never refills)."""
    return math.inf if rate <= 0.0 else math.log(2.0) / rate


@dataclass(frozen=True, slots=True)
class Take:
    """One market order against the side: `filled` base units for `notional_quote`;
    `extrapolated` when it walked past the visible levels."""

    filled: float
    notional_quote: float
    extrapolated: bool


@dataclass
class ResilientSide:
    """One book side under the resilience model (module docstring). `levels` (n, 2) of
    (price, base size) in walk order; `mid` the arrival mid (quote per base)."""

    levels: np.ndarray
    mid: float
    rate: float = RECOVERY_RATE_PER_S
    visible: int = field(init=False)
    deficit: np.ndarray = field(init=False)
    clock_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        visible = np.asarray(self.levels, dtype=np.float64)
        self.visible = len(visible)
        self.levels = extend_book(visible, self.mid, EXTRAPOLATE_TO_PCT)
        self.deficit = np.zeros(len(self.levels))

    @property
    def visible_depth(self) -> float:
        return float(self.levels[: self.visible, 1].sum())

    def _decay(self, t_s: float) -> None:
        elapsed = t_s - self.clock_s
        if elapsed > 0.0:
            self.deficit *= 0.0 if math.isinf(self.rate) else math.exp(-self.rate * elapsed)
            self.clock_s = t_s

    def take(self, quantity: float, t_s: float) -> Take:
        """A market order of `quantity` base units at `t_s` seconds (not before the last)."""
        self._decay(t_s)
        available = np.maximum(self.levels[:, 1] - self.deficit, 0.0)
        before = np.concatenate([[0.0], np.cumsum(available)[:-1]])
        taken = np.clip(quantity - before, 0.0, available)
        self.deficit += taken
        filled = float(taken.sum())
        touched = np.flatnonzero(taken > 0.0)
        extrapolated = bool(touched.size and touched[-1] >= self.visible)
        return Take(filled, float(self.levels[:, 0] @ taken), extrapolated)


@dataclass(frozen=True, slots=True)
class ScheduleCost:
    """Market orders of a schedule costed on one `ResilientSide`: `slippage_bps` against the
    arrival mid (positive = cost), `extrapolated` when any order walked past the visible
    depth, `filled` and `notional_quote` their totals."""

    filled: float
    notional_quote: float
    slippage_bps: float
    extrapolated: bool


def schedule_cost(
    levels: np.ndarray, mid: float, sign: float, orders: Sequence[tuple[float, float]],
    rate: float = RECOVERY_RATE_PER_S, fixed: Sequence[tuple[float, float]] = (),
) -> ScheduleCost:
    """Cost of market `orders` `(t_s, base quantity)` (in time order) walking `levels` under the
    resilience model, plus `fixed` fills `(base quantity, price)` that do not touch the book
    (resting limits assumed filled at their price). `sign` +1 for a buy, -1 for a sell."""
    side = ResilientSide(levels, mid, rate)
    filled = notional = 0.0
    extrapolated = False
    for t_s, quantity in orders:
        if quantity <= 0.0:
            continue
        take = side.take(quantity, t_s)
        filled += take.filled
        notional += take.notional_quote
        extrapolated |= take.extrapolated
    for quantity, price in fixed:
        filled += quantity
        notional += quantity * price
    average = notional / filled if filled > 0.0 else mid
    return ScheduleCost(filled, notional, sign * (average - mid) / mid * 1e4, extrapolated)


# ---- calibration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventStudy:
    """The event study's settings (module docstring)."""

    band_bps: float = 2.0
    min_burst_base: float = 2.0
    burst_ms: int = 200
    quiet_ms: int = 5_000
    min_deficit_share: float = 0.25
    lags_ms: tuple[int, ...] = LAGS_MS


def _depth_at(times_ms: np.ndarray, depth: np.ndarray, t_ms: float) -> float:
    """The depth of the last state at or before `t_ms` (the first state before any)."""
    return float(depth[max(0, int(np.searchsorted(times_ms, t_ms, side="right")) - 1)])


def recovery_curves(
    times_ms: np.ndarray, depth: np.ndarray, trade_times_ms: np.ndarray,
    trade_base: np.ndarray, study: EventStudy = EventStudy(),
) -> np.ndarray:
    """(events, lags) recovery curves of one side: `depth` (base units within the band, one
    value per book state at `times_ms`, ascending) after bursts of the taker trades hitting that
    side (`trade_times_ms` ascending, sizes `trade_base`)."""
    times_ms = np.asarray(times_ms, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    curves = []
    last_event = -math.inf
    horizon = max(study.lags_ms)
    i = 0
    while i < len(trade_times_ms):
        start = float(trade_times_ms[i])
        stop = int(np.searchsorted(trade_times_ms, start + study.burst_ms, side="left"))
        volume = float(np.sum(trade_base[i:stop]))
        fits = (volume >= study.min_burst_base and start - last_event > study.quiet_ms
                and start - PRE_EVENT_MS[0] >= times_ms[0]
                and start + study.burst_ms + horizon <= times_ms[-1])
        if not fits:
            i += 1
            continue
        before = np.mean([_depth_at(times_ms, depth, start - lag) for lag in PRE_EVENT_MS])
        end = float(trade_times_ms[stop - 1])
        lags = (0, *study.lags_ms)
        deficits = np.array([before - _depth_at(times_ms, depth, end + lag + 1)
                             for lag in lags])
        if deficits[0] >= study.min_deficit_share * before and deficits[0] > 0.0:
            curves.append(deficits[1:] / deficits[0])
        last_event = start
        i = stop
    return np.array(curves).reshape(-1, len(study.lags_ms))


def recovery_error(curves: np.ndarray, rate: float, lags_ms: Sequence[int]) -> float:
    """Mean |clip(curve, -1, 2) - exp(-rate * lag)| over every event and lag."""
    lags_s = np.asarray(lags_ms, dtype=np.float64) / 1000.0
    model = np.zeros_like(lags_s) if math.isinf(rate) else np.exp(-rate * lags_s)
    return float(np.mean(np.abs(np.clip(curves, -1.0, 2.0) - model)))


def fit_recovery_rate(curves: np.ndarray, lags_ms: Sequence[int] = LAGS_MS) -> float:
    """The rate (per second) on `RATE_GRID` with the least `recovery_error`."""
    if len(curves) == 0:
        raise ValueError("no recovery curves to fit")
    errors = [recovery_error(curves, float(rate), lags_ms) for rate in RATE_GRID]
    return float(RATE_GRID[int(np.argmin(errors))])
