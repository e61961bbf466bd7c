"""The market schedules the slicing planner chooses from (pure; no I/O).

- `twap`: n equal children, `tau = horizon / n` apart.
- `almgren_chriss`: `slicing.almgren_chriss` with `eta` and `epsilon` calibrated from this book
  (`impact.impact_from_book`, `tau` seconds, fitted over child sizes up to the schedule's largest
  trade, refitted until that settles), `gamma = 0` (a single book says nothing about permanent
  impact; in the model it only enters through `eta - gamma tau / 2`), the caller's `sigma`
  and `risk_aversion` (default `DEFAULT_RISK_AVERSION` per quote unit).
- `pov`: `max_participation` (default `DEFAULT_MAX_PARTICIPATION`) of the volume rate per
  interval, for as long as that takes, even past the horizon (a note says so).
- `auto` (`choose_strategy`): POV when `max_participation` is given and the horizon is too
  short to finish at that participation, otherwise Almgren-Chriss; the planner then keeps it
  only if, costed on the resilient book, it beats TWAP in expected cost plus risk aversion
  times timing variance (`slice_costs`).
"""

from __future__ import annotations

import math

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.execution.impact import impact_from_book
from execsvc.execution.slice_request import (
    DEFAULT_MAX_PARTICIPATION,
    DEFAULT_RISK_AVERSION,
    DEPTH_SHARE,
    MAX_POV_DURATION_S,
    MAX_SLICES,
    MIN_INTERVAL_S,
    Market,
    PlanRequest,
    Schedule,
    SlicePlanError,
    fmt,
)
from execsvc.execution.slicing import almgren_chriss, pov_schedule

AC_FIT_ROUNDS = 8


def twap(n: int, tau: float) -> Schedule:
    """n equal weights, tau apart."""
    times = np.arange(n, dtype=np.float64) * tau
    reasons = [
        f"TWAP slice {j + 1} of {n} at t+{times[j]:g} s: an equal share of the order, evenly "
        "spaced so the book can refill between children."
        for j in range(n)
    ]
    return Schedule("twap", np.full(n, 1.0 / n), times, reasons, tau, 0.0, None, [])


def almgren_chriss_schedule(n: int, tau: float, quantity: float, book: OrderBook,
                            request: PlanRequest) -> Schedule:
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
        f"children up to {fmt(float(fit.quantities[-1]))} {request.base} "
        f"(R^2 {fit.r_squared:.3f}){floor}; epsilon = half-spread {fit.epsilon:.6g} "
        f"{request.quote}; gamma = 0 (no permanent impact from one book).",
    ]
    return Schedule("almgren_chriss", weights, np.asarray(ac.times), reasons, tau, fit.eta,
                    lam, notes)


def pov(quantity: float, tau: float, market: Market, request: PlanRequest) -> Schedule:
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
            f"{share:g} of {fmt(request.volume_rate, 4)} {request.base}/s would take "
            f"{duration:.3g} s to fill {fmt(quantity, 6)} {request.base}; "
            f"at most {MAX_POV_DURATION_S:g} s is planned",
        )
    interval = tau
    if rate * interval > DEPTH_SHARE * market.depth:
        interval = max(MIN_INTERVAL_S, DEPTH_SHARE * market.depth / rate)
    interval = max(interval, quantity / (rate * MAX_SLICES))
    schedule = pov_schedule(quantity, request.volume_rate, share, interval)
    n = len(schedule.trades)
    reasons = [
        f"POV slice {j + 1} of {n} at t+{schedule.times[j]:g} s: at most {share * 100:g}% of the "
        f"expected {fmt(request.volume_rate, 4)} {request.base}/s market volume over "
        f"{interval:g} s."
        for j in range(n)
    ]
    notes = []
    if schedule.duration_s > request.horizon_s * (1.0 + 1e-9):
        notes.append(
            f"At {share * 100:g}% participation the order needs {schedule.duration_s:,.0f} s, "
            f"longer than the {request.horizon_s:g} s horizon; the schedule keeps the "
            "participation limit and runs past the horizon."
        )
    weights = np.asarray(schedule.trades) / quantity
    return Schedule("pov", weights, np.asarray(schedule.times), reasons, interval, 0.0, None,
                    notes)


def choose_strategy(request: PlanRequest) -> str:
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


def schedule_for(strategy: str, n: int, scheduled: float, book: OrderBook, market: Market,
                 request: PlanRequest) -> Schedule:
    """The market schedule of `strategy` for `scheduled` base units in n slices."""
    tau = request.horizon_s / n
    if strategy == "twap":
        return twap(n, tau)
    if strategy == "pov":
        return pov(scheduled, tau, market, request)
    return almgren_chriss_schedule(n, tau, scheduled, book, request)
