"""Walking one side of an L2 order book with a market order (pure numpy, no I/O).

A buy walks the asks (ascending prices), a sell walks the bids (descending prices). `levels` is
an (n, 2) array of (price in quote units, size in base units), best price first, as in
`execsvc.market.types.OrderBook`.

For a base quantity `Q`, with cumulative sizes `C_k = s_0 + ... + s_k` and cumulative quote
notionals `N_k = p_0 s_0 + ... + p_k s_k`:

    filled      F = min(Q, C_{n-1})               (base)
    k           = first level with C_k >= F        (the last level the order touches)
    notional    = N_{k-1} + (F - C_{k-1}) * p_k    (quote)
    average     = notional / F                     (quote per base)
    slippage    = sign * (average - ref) / ref * 1e4   (bps; sign +1 buy, -1 sell)

so slippage is a cost (positive) for both sides. `ref` is the best price of the walked side
unless a `reference_price` (e.g. the mid) is given. When `Q` exceeds the book's total size the
remainder is reported as unfilled and the price figures describe the filled part only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Side = Literal["buy", "sell"]

# Cumulative sizes are float sums; a quantity within this fraction of the book's total size
# below a cumulative boundary is treated as ending on that level (0.1 + 0.2 + 0.3 walks 3
# levels, not 3 plus a 1e-17 sliver of the fourth).
_BOUNDARY_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True)
class BookWalk:
    """Result of walking one book side for a base quantity.

    Quantities are base units, prices and notional quote units, slippage in basis points
    (positive = cost). `levels_consumed` counts the levels the order traded at, the last one
    possibly only in part; `worst_price` is that last level's price.
    """

    side: Side
    filled_quantity: float
    unfilled_quantity: float
    average_price: float
    notional_quote: float
    levels_consumed: int
    worst_price: float
    reference_price: float
    slippage_bps: float

    @property
    def fully_filled(self) -> bool:
        """True when the book held the whole quantity."""
        return self.unfilled_quantity == 0.0


def _check_side(side: str) -> float:
    """+1.0 for a buy, -1.0 for a sell (the sign that makes slippage a cost)."""
    if side == "buy":
        return 1.0
    if side == "sell":
        return -1.0
    raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")


def _check_levels(levels: np.ndarray, side: str) -> np.ndarray:
    """The levels as float64 (n, 2), n >= 1, finite positive prices and sizes, in walk order
    (asks strictly ascending for a buy, bids strictly descending for a sell)."""
    arr = np.asarray(levels, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"levels must be a non-empty (n, 2) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise ValueError("levels must hold finite, positive prices and sizes")
    steps = np.diff(arr[:, 0])
    if side == "buy" and np.any(steps <= 0.0):
        raise ValueError("levels for a buy must be asks with strictly ascending prices")
    if side == "sell" and np.any(steps >= 0.0):
        raise ValueError("levels for a sell must be bids with strictly descending prices")
    return arr


def _check_reference(reference_price: float | None, levels: np.ndarray) -> float:
    """The reference price: the given one (finite, > 0) or the best price of the side."""
    if reference_price is None:
        return float(levels[0, 0])
    ref = float(reference_price)
    if not math.isfinite(ref) or ref <= 0.0:
        raise ValueError(f"reference_price must be finite and > 0, got {reference_price!r}")
    return ref


def _walk_many(
    levels: np.ndarray, quantities: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised walk for many quantities: (filled base, notional quote, last level index).

    Uses the formulas of the module docstring with one `np.searchsorted` over the cumulative
    sizes; no loop over levels or quantities.
    """
    prices, sizes = levels[:, 0], levels[:, 1]
    cum_size = np.cumsum(sizes)
    cum_notional = np.cumsum(prices * sizes)
    total = cum_size[-1]
    filled = np.minimum(quantities, total)
    last = np.searchsorted(cum_size, filled - _BOUNDARY_TOLERANCE * total, side="left")
    last = np.minimum(last, len(sizes) - 1)
    before_size = np.where(last > 0, cum_size[last - 1], 0.0)
    before_notional = np.where(last > 0, cum_notional[last - 1], 0.0)
    notional = before_notional + (filled - before_size) * prices[last]
    return filled, notional, last


def _slippage_bps(average: np.ndarray | float, reference: float, sign: float) -> np.ndarray | float:
    """sign * (average - reference) / reference * 1e4."""
    return sign * (average - reference) / reference * 1e4


def walk_book(
    levels: np.ndarray,
    quantity: float,
    side: Side = "buy",
    reference_price: float | None = None,
) -> BookWalk:
    """Walk `levels` (asks for a buy, bids for a sell) for `quantity` base units.

    Raises ValueError when `quantity` is not finite and > 0, `side` is unknown, or `levels` is
    empty, non-positive or not in walk order.
    """
    sign = _check_side(side)
    q = float(quantity)
    if not math.isfinite(q) or q <= 0.0:
        raise ValueError(f"quantity must be finite and > 0, got {quantity!r}")
    arr = _check_levels(levels, side)
    ref = _check_reference(reference_price, arr)
    filled, notional, last = _walk_many(arr, np.array([q]))
    f, n, k = float(filled[0]), float(notional[0]), int(last[0])
    average = n / f
    return BookWalk(
        side=side,
        filled_quantity=f,
        unfilled_quantity=q - f,
        average_price=average,
        notional_quote=n,
        levels_consumed=k + 1,
        worst_price=float(arr[k, 0]),
        reference_price=ref,
        slippage_bps=float(_slippage_bps(average, ref, sign)),
    )


def cost_curve(
    levels: np.ndarray,
    quantities: np.ndarray,
    side: Side = "buy",
    reference_price: float | None = None,
) -> np.ndarray:
    """Slippage in bps (positive = cost) of market orders of each of `quantities` (base units).

    Same shape as `quantities` and equal, element by element, to `walk_book(...).slippage_bps`.
    Quantities beyond the book's total size (`levels[:, 1].sum()`) get the slippage of walking
    the whole book, i.e. of the part that would fill. Raises ValueError when any quantity is
    not finite and > 0.
    """
    sign = _check_side(side)
    qs = np.asarray(quantities, dtype=np.float64)
    if not np.all(np.isfinite(qs)) or np.any(qs <= 0.0):
        raise ValueError("quantities must all be finite and > 0")
    arr = _check_levels(levels, side)
    ref = _check_reference(reference_price, arr)
    flat = qs.reshape(-1)
    filled, notional, _ = _walk_many(arr, flat)
    return np.asarray(_slippage_bps(notional / filled, ref, sign)).reshape(qs.shape)
