"""The service's vocabulary of sides, windows, time and price rounding. Pure, no I/O.

Two side vocabularies exist because traders use both: an *order* buys or sells, a *position*
is long or short. A buy opens (or adds to) a long and closes a short; a sell the reverse.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

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


def iso_utc(epoch_ms: float) -> str:
    """Epoch milliseconds as ISO-8601 UTC with a `Z` (`2024-01-01T00:00:00Z`)."""
    return datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC).isoformat().replace("+00:00", "Z")
