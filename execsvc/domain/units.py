"""The service's vocabulary of sides, windows, time and price rounding. Pure, no I/O.

Two side vocabularies exist because traders use both: an *order* buys or sells, a *position*
is long or short. A buy opens (or adds to) a long and closes a short; a sell the reverse.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

import numpy as np

OrderSide = Literal["buy", "sell"]
PositionSide = Literal["long", "short"]

Window = Literal["1d", "7d", "30d"]
WINDOW_SECONDS: dict[str, int] = {"1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
"""Lookback of position openings per map window, seconds."""


def order_side_sign(side: str) -> float:
    """+1.0 for a buy, -1.0 for a sell (the sign that makes a buy's slippage a cost)."""
    if side == "buy":
        return 1.0
    if side == "sell":
        return -1.0
    raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")


def position_side_sign(side: str) -> int:
    """+1 for a long, -1 for a short."""
    if side == "long":
        return 1
    if side == "short":
        return -1
    raise ValueError(f"side must be 'long' or 'short', not {side!r}")


def opening_side(position_side: PositionSide) -> OrderSide:
    """The order side that opens (or adds to) a position of `position_side`."""
    return "buy" if position_side == "long" else "sell"


def position_side_of(size: float) -> PositionSide:
    """The side of a signed position size (long > 0, short < 0)."""
    return "long" if size > 0 else "short"


def price_decimals(price: float, significant: int = 7, minimum: int = 2) -> int:
    """Decimals that keep about `significant` digits of `price` (at least `minimum`, at most
    10): with the defaults 2 for BTC at 90,000, 6 for DOGE at 0.1."""
    magnitude = math.floor(math.log10(max(abs(price), 1e-12)))
    return int(min(10, max(minimum, significant - 1 - magnitude)))


def round_like_builtin(values: np.ndarray, decimals: int | np.ndarray) -> np.ndarray:
    """`round(v, d)` of each value, as Python's `round` gives it (the double nearest to the
    correctly rounded decimal), for a float array at numpy speed; `decimals` may be an array
    broadcast against `values` (e.g. one per column).

    `np.round`'s way, `rint(v * 10**d) / 10**d`, gives that number except where the scaled
    value's own rounding error could move it across a half (within 1e-6 of one) or it is too
    large to have a fraction (or not finite): those few are rounded by `round` itself."""
    values = np.asarray(values, dtype=np.float64)
    digits = np.broadcast_to(np.asarray(decimals, dtype=np.int64), values.shape)
    scale = 10.0**digits
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values * scale
        rounded = np.rint(scaled) / scale
        sure = (np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) > 1e-6) & (
            np.abs(scaled) < 2.0**52)
    for index in np.flatnonzero(~sure).tolist():
        rounded.flat[index] = round(float(values.flat[index]), int(digits.flat[index]))
    return rounded


def iso_utc(epoch_ms: float) -> str:
    """Epoch milliseconds as ISO-8601 UTC with a `Z` (`2024-01-01T00:00:00Z`)."""
    return datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC).isoformat().replace("+00:00", "Z")
