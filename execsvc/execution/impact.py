"""Calibrating the Almgren-Chriss inputs from market data (time unit: seconds).

Units, consistent with `execsvc.execution.slicing.almgren_chriss` with `tau` in seconds:

- `epsilon`  quote per base: the fixed cost of trading, the book's half-spread
  `(best_ask - best_bid) / 2`.
- `eta`      quote per base per (base per second): temporary impact per unit of trading rate.
- `sigma`    quote per base per sqrt(second): the price's arithmetic volatility.
- volume rate, base per second: the market's traded volume per second.

Temporary impact from the order book (`impact_from_book`). A market child of `q` base units
walks the book (`cost_curve`, the one book-walking function) and pays, per base unit, relative
to the mid `m`:

    c(q) = slippage_bps(q) * m / 1e4                  (quote per base)
    y(q) = c(q) - epsilon                             (the part beyond the half-spread)

For child sizes `q_i = i / n * q_max` (i = 1..n, q_max capped at the side's visible depth) the
slope `k` of `y = k q` is fitted by least squares through the origin:

    k = sum q_i y_i / sum q_i^2                       (quote per base per base)

In the Almgren-Chriss model a trade of `n` in an interval `tau` pays `epsilon + eta n / tau`
per unit; matching `eta n / tau = k n` gives

    eta = k * tau                                     (quote per base per (base per second))

which assumes the book refills within `tau` (each child meets the book as recorded). When the
fit gives `k <= tick / depth` (a book flat over the fitted range), `k` is floored at one tick
per visible depth of the side so `eta` stays positive; `floored` says so.

Volatility from candles (`sigma_quote_per_sqrt_s`): with closes `C_0..C_n` over the lookback and
candle interval `dt` seconds, log returns `r_i = ln(C_i / C_{i-1})`,

    sigma = std(r, ddof=1) * C_n / sqrt(dt)           (quote per base per sqrt(second))

(the relative volatility per sqrt(second) times the last price, the arithmetic random walk's
volatility near the current price).

Volume rate (`volume_rate_base_per_s`): `median(volume) / dt` over the lookback (base per
second); the median rather than the mean so that a few spikes do not inflate the participation
a POV schedule assumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from execsvc.domain.book import OrderBook, cost_curve
from execsvc.liqmap.candles import Candles

DEFAULT_LOOKBACK_S = 86_400.0
DEFAULT_FIT_POINTS = 32


@dataclass(frozen=True, slots=True)
class ImpactFit:
    """Temporary impact fitted on one side of a book (units in the module docstring).

    `quantities` (base) and `excess_cost` (quote per base, `y` above) are the fitted points,
    `r_squared` the uncentred R^2 of the fit through the origin.
    """

    side: Literal["buy", "sell"]
    mid: float
    epsilon: float
    slope_quote_per_base2: float
    child_interval_s: float
    eta: float
    quantities: np.ndarray
    excess_cost: np.ndarray
    r_squared: float
    floored: bool


def book_side(book: OrderBook, side: str) -> np.ndarray:
    """The levels a market order of `side` walks: the asks for a buy, the bids for a sell."""
    if side == "buy":
        return np.asarray(book.asks, dtype=np.float64)
    if side == "sell":
        return np.asarray(book.bids, dtype=np.float64)
    raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")


def half_spread(book: OrderBook) -> float:
    """epsilon = (best ask - best bid) / 2, quote per base."""
    return float(book.asks[0, 0] - book.bids[0, 0]) / 2.0


def price_tick(levels: np.ndarray) -> float:
    """The smallest positive price step between adjacent levels (the spread's tick when the
    side has one level: its price * 1e-8)."""
    steps = np.abs(np.diff(levels[:, 0]))
    steps = steps[steps > 0.0]
    return float(steps.min()) if steps.size else float(levels[0, 0]) * 1e-8


def _positive(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def _fit_through_origin(q: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(k, uncentred R^2) of the least-squares fit `y = k q`."""
    k = float(np.dot(q, y) / np.dot(q, q))
    total = float(np.dot(y, y))
    residual = float(np.sum((y - k * q) ** 2))
    return k, (1.0 - residual / total) if total > 0.0 else 1.0


def impact_from_book(
    book: OrderBook,
    side: Literal["buy", "sell"],
    max_child_quantity: float,
    child_interval_s: float,
    n_points: int = DEFAULT_FIT_POINTS,
) -> ImpactFit:
    """Fit `epsilon`, `k` and `eta = k * child_interval_s` on the side a `side` order walks,
    over child sizes up to `max_child_quantity` base units (formulas in the module docstring).

    ValueError on an unknown side, non-finite or non-positive sizes or interval, or
    `n_points < 2`.
    """
    levels = book_side(book, side)
    q_max = _positive("max_child_quantity", max_child_quantity)
    tau = _positive("child_interval_s", child_interval_s)
    if int(n_points) < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points!r}")
    depth = float(levels[:, 1].sum())
    q_max = min(q_max, depth)
    mid = book.mid
    epsilon = half_spread(book)
    quantities = q_max * np.arange(1, int(n_points) + 1, dtype=np.float64) / int(n_points)
    per_unit = cost_curve(levels, quantities, side, reference_price=mid) * mid / 1e4
    excess = per_unit - epsilon
    k, r_squared = _fit_through_origin(quantities, excess)
    k_floor = price_tick(levels) / depth
    floored = k <= k_floor
    slope = k_floor if floored else k
    return ImpactFit(
        side=side,
        mid=mid,
        epsilon=epsilon,
        slope_quote_per_base2=slope,
        child_interval_s=tau,
        eta=slope * tau,
        quantities=quantities,
        excess_cost=excess,
        r_squared=r_squared,
        floored=floored,
    )


def _lookback(candles: Candles, lookback_s: float, minimum: int) -> Candles:
    """The last `max(minimum, lookback_s / interval)` candles; ValueError when fewer exist."""
    _positive("lookback_s", lookback_s)
    if candles.interval_ms <= 0:
        raise ValueError(f"candles.interval_ms must be > 0, got {candles.interval_ms!r}")
    count = max(minimum, math.ceil(lookback_s * 1000.0 / candles.interval_ms))
    if len(candles) < minimum:
        raise ValueError(f"candles must hold at least {minimum} candles, got {len(candles)}")
    return candles.slice(max(0, len(candles) - count), len(candles))


def sigma_quote_per_sqrt_s(candles: Candles, lookback_s: float = DEFAULT_LOOKBACK_S) -> float:
    """sigma = std(ln C_i / C_{i-1}, ddof=1) * C_last / sqrt(interval_s), quote per base per
    sqrt(second), over the last `lookback_s` seconds of candles (at least 3 closes).

    ValueError when there are fewer than 3 candles or a close is not finite and > 0.
    """
    recent = _lookback(candles, lookback_s, 3)
    closes = np.asarray(recent.close, dtype=np.float64)
    if not np.all(np.isfinite(closes)) or np.any(closes <= 0.0):
        raise ValueError("candles.close must be finite and > 0")
    returns = np.diff(np.log(closes))
    interval_s = candles.interval_ms / 1000.0
    return float(np.std(returns, ddof=1) * closes[-1] / math.sqrt(interval_s))


def volume_rate_base_per_s(candles: Candles, lookback_s: float = DEFAULT_LOOKBACK_S) -> float:
    """median(volume) / interval_s over the last `lookback_s` seconds of candles (at least one),
    base units per second. ValueError when a volume is not finite and >= 0."""
    recent = _lookback(candles, lookback_s, 1)
    volume = np.asarray(recent.volume, dtype=np.float64)
    if not np.all(np.isfinite(volume)) or np.any(volume < 0.0):
        raise ValueError("candles.volume must be finite and >= 0")
    return float(np.median(volume)) / (candles.interval_ms / 1000.0)
