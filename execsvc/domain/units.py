"""The service's vocabulary of sides, windows and time, and its one home of rounding: the
exchange grid of a symbol (`MarketPrecision`: tick and lot) and the figures free of float
noise that answers carry (`significant`). Pure, no I/O.

Two side vocabularies exist because traders use both: an *order* buys or sells, a *position*
is long or short. A buy opens (or adds to) a long and closes a short; a sell the reverse.
Where a request describes a position, either word is taken (`position_side`: buy = long, sell =
short); where it describes an order, only buy or sell.

Rounding. A price on the grid is `k * tick_size` for an integer k, a quantity `n * lot_size`;
`MarketPrecision` snaps a value down, up, to the nearest, toward or away from a reference
price, and writes the result as the float nearest to the decimal `k * step` (so `3 * 0.1` is
`0.3`, not `0.30000000000000004`). A value within `GRID_TOLERANCE` steps of a grid point counts
as on it, which absorbs the float error of the arithmetic that produced it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
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


def position_side(side: str) -> PositionSide:
    """The position side a request names: `long`/`short`, or the order side that opens it
    (`buy` = long, `sell` = short)."""
    if side in ("long", "buy"):
        return "long"
    if side in ("short", "sell"):
        return "short"
    raise ValueError(f"side must be long, short, buy or sell, not {side!r}")


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


@functools.lru_cache(maxsize=1024)
def iso_utc(epoch_ms: float) -> str:
    """Epoch milliseconds as ISO-8601 UTC with a `Z` (`2024-01-01T00:00:00Z`); the recent
    ones remembered (every served map states its `computed_at`)."""
    return datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC).isoformat().replace("+00:00", "Z")


GRID_TOLERANCE = 1e-9
"""A value this many steps (or fewer) from a grid point counts as on it (or, for large
multiples, the float error of the division, 8 ulps of the multiple)."""
SIGNIFICANT_DIGITS = 12


@functools.lru_cache(maxsize=256)
def step_decimals(step: float) -> int:
    """Decimals of the shortest decimal form of `step` (0.1 -> 1, 0.0005 -> 4, 5.0 -> 0)."""
    exponent = Decimal(repr(float(step))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`value` with at most `digits` significant digits: a derived figure without the float
    noise of the arithmetic behind it (0.35000000000000003 -> 0.35). Non-finite values and 0
    are returned as they are."""
    if value == 0.0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def decimal_text(value: float) -> str:
    """`value` for a message a trader copies back: the shortest decimal that reads back as
    the same float, without a trailing `.0` (`101234.65`, `90000`, `1e-08`); unlike `:g`,
    which keeps 6 significant digits and so writes 101234.65 as `101235`."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


QUOTE_DECIMALS = 8
"""Money (`*_quote`) is also rounded to this many decimals: a PnL like `0.1 * (93536.3 -
93536.4)` carries the float error of its operands, not of its own size."""


def without_float_noise(value: object, key: str = "") -> object:
    """`value` (a JSON-ready tree of dicts, lists and scalars) with every float passed through
    `significant` (and money, keys ending in `_quote`, rounded to `QUOTE_DECIMALS`): what an
    answer carries of sums and averages that float arithmetic produced."""
    if isinstance(value, float):
        if key.endswith("_quote") and math.isfinite(value):
            value = round(value, QUOTE_DECIMALS) + 0.0
        return significant(value)
    if isinstance(value, dict):
        return {k: without_float_noise(item, str(k)) for k, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_float_noise(item, key) for item in value]
    return value


MAX_LOTS = 2**53
"""Lot counts are exact integers in float64 only up to 2**53."""


class LotError(ValueError):
    """A quantity that is not whole lots (`MarketPrecision.checked_lots`); the message quotes
    the value and the lot as `decimal_text` writes them."""


@dataclass(frozen=True, slots=True)
class MarketPrecision:
    """The exchange grid of one symbol: prices are multiples of `tick_size` (quote per base),
    quantities multiples of `lot_size` (base units). `source` says where the figures come from
    (`exchange markets` live, `bundled: ...` for replay, `inferred: ...` for CSV data)."""

    tick_size: float
    lot_size: float
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size"):
            step = getattr(self, name)
            if not (isinstance(step, int | float) and math.isfinite(step) and step > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {step!r}")

    # ---- prices ---------------------------------------------------------------------------

    def price_down(self, price: float) -> float:
        """The grid price at or below `price`."""
        return snap(price, self.tick_size, "down")

    def price_up(self, price: float) -> float:
        """The grid price at or above `price`."""
        return snap(price, self.tick_size, "up")

    def price(self, price: float) -> float:
        """The nearest grid price."""
        return snap(price, self.tick_size, "nearest")

    def price_away(self, price: float, reference: float) -> float:
        """`price` snapped away from `reference` (down below it, up above it): a stop rounded
        this way stays on the side of the entry it was placed on."""
        return self.price_down(price) if price < reference else self.price_up(price)

    def price_toward(self, price: float, reference: float) -> float:
        """`price` snapped toward `reference` (up below it, down above it)."""
        return self.price_up(price) if price < reference else self.price_down(price)

    def on_price_grid(self, price: float) -> bool:
        return on_grid(price, self.tick_size)

    # ---- quantities -----------------------------------------------------------------------

    def quantity_down(self, quantity: float) -> float:
        """The whole lots at or below `quantity` (base units)."""
        return snap(quantity, self.lot_size, "down")

    def quantity(self, quantity: float) -> float:
        """The nearest whole lots."""
        return snap(quantity, self.lot_size, "nearest")

    def lots(self, quantity: float) -> int:
        """`quantity` in whole lots (the nearest count)."""
        return round(quantity / self.lot_size)

    def lots_down(self, quantity: float) -> int:
        """Whole lots at or below `quantity`."""
        return grid_index(quantity, self.lot_size, "down")

    def quantity_of(self, lots: int) -> float:
        """`lots * lot_size` as the float nearest to that decimal."""
        return round(int(lots) * self.lot_size, step_decimals(self.lot_size))

    def on_lot_grid(self, quantity: float) -> bool:
        return on_grid(quantity, self.lot_size)

    def checked_lots(self, quantity: float, unit: str = "base") -> int:
        """`quantity` (base units, `unit` naming them in the message) in whole lots; `LotError`
        when it is below one lot, not a multiple of the lot (the message quotes the nearest
        whole lots) or more than `MAX_LOTS` lots. What every request whose quantity must be
        whole lots is checked with (`/suggest/slice`, `/suggest/take-profit`)."""
        sent, lot = decimal_text(quantity), f"{decimal_text(self.lot_size)} {unit}".rstrip()
        if quantity < self.lot_size * (1 - 1e-9):
            raise LotError(f"{sent} is below the lot size {lot}")
        if quantity / self.lot_size > MAX_LOTS:
            raise LotError(f"{sent} is more than {MAX_LOTS:g} lots of {lot}")
        if not self.on_lot_grid(quantity):
            raise LotError(f"{sent} is not a multiple of the lot {lot} "
                           f"(nearest: {decimal_text(self.quantity(quantity))})")
        return self.lots(quantity)

    def to_json(self) -> dict[str, object]:
        return {"tick_size": self.tick_size, "lot_size": self.lot_size, "source": self.source}

    @classmethod
    def from_json(cls, doc: dict) -> MarketPrecision:
        return cls(float(doc["tick_size"]), float(doc["lot_size"]), str(doc.get("source", "")))


def fallback_precision(price: float) -> MarketPrecision:
    """A grid for a symbol whose exchange grid is unknown (a map stored before the worker
    recorded one): prices to about 7 significant digits (`price_decimals`), lots of 1e-8."""
    return MarketPrecision(10.0 ** -price_decimals(price), 1e-8,
                           "unknown: prices to 7 significant digits")


Rounding = Literal["down", "up", "nearest"]


def grid_index(value: float, step: float, mode: Rounding) -> int:
    """The integer k of the grid point `k * step` that `value` rounds to (`mode`); within
    `GRID_TOLERANCE` steps of a point, that point."""
    ratio = value / step
    nearest = round(ratio)
    if abs(ratio - nearest) <= _tolerance(ratio) or mode == "nearest":
        return int(nearest)
    return int(math.floor(ratio) if mode == "down" else math.ceil(ratio))


def snap(value: float, step: float, mode: Rounding) -> float:
    """`value` on the grid of `step` (down, up or nearest), as the float nearest to the decimal
    `k * step`: `k * units / 10**decimals` for `step = units / 10**decimals`, one correctly
    rounded division of exact integers (what `round(k * step, decimals)` gives, at a tenth of
    its cost) while the product is exact in a float; else that `round`."""
    k = grid_index(value, step, mode)
    units, scale = _decimal_step(step)
    if abs(k * units) <= _EXACT_INTEGER and scale <= _EXACT_POWER_OF_TEN:
        return k * units / scale
    return round(k * step, step_decimals(step))


_EXACT_INTEGER = 2**53
_EXACT_POWER_OF_TEN = 10**22


@functools.lru_cache(maxsize=256)
def _decimal_step(step: float) -> tuple[int, int]:
    """`step` as `(units, 10**decimals)` of its shortest decimal form (0.0005 -> (5, 10**4))."""
    decimals = step_decimals(step)
    return round(step * 10**decimals), 10**decimals


def on_grid(value: float, step: float) -> bool:
    """Whether `value` is a multiple of `step` (within `GRID_TOLERANCE` steps)."""
    ratio = value / step
    return abs(ratio - round(ratio)) <= _tolerance(ratio)


def _tolerance(ratio: float) -> float:
    return max(GRID_TOLERANCE, 8 * math.ulp(ratio))
