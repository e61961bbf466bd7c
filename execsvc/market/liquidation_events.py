"""Realised liquidations: the one event type, and the pure normalisation of ccxt's
liquidation structures into it.

A `LiquidationEvent` is one forced close reported by a venue: `time_ms` (epoch ms, the venue's
trade time), `venue` (ccxt id), `symbol` (the configured key, e.g. `BTCUSDT`), `side` of the
**liquidated position** (`long` | `short`), `price` (quote per base unit, the fill's average
price where the venue gives it), `quantity_base` (base units) and `notional_quote`
(`price * quantity_base`, linear contracts), and `event_id`, a digest of those fields that
identifies the event across reconnects and replicas.

Venues report different sides: Binance's `forceOrder` carries the side of the liquidation
*order* (a SELL closes a long), Bybit's `allLiquidation` the side of the *position* (Buy is a
liquidated long). `LIQUIDATED_SIDE` holds each supported venue's convention; a venue without
one is refused rather than guessed.

Two liquidations identical in venue, symbol, millisecond, side, price and quantity get the same
`event_id` and are stored once: that is how a duplicate delivery is recognised. Binance's
one-per-second sampling makes a true collision impossible there; on Bybit it would take two
identical liquidations in the same millisecond.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

PositionSide = Literal["long", "short"]

LIQUIDATED_SIDE: dict[str, dict[str, PositionSide]] = {
    # forceOrder "S" is the liquidation order's side: selling closes a long position
    "binanceusdm": {"sell": "long", "buy": "short"},
    # allLiquidation "S" is the position's side: "Buy" means a long position was liquidated
    "bybit": {"buy": "long", "sell": "short"},
}
"""Per venue: ccxt's lower-cased `side` of a public liquidation -> the liquidated position."""

SAMPLING_NOTES: dict[str, str] = {
    "binanceusdm": (
        "Binance sends at most one liquidation per symbol per second (the latest in each "
        "1000 ms), so its stream is a sample: counts and totals are lower bounds."
    ),
}
"""Venues whose public stream is a sample of the liquidations, with what that means."""


class MalformedLiquidation(ValueError):
    """A liquidation structure that cannot be a real event; `str()` names the field."""


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    time_ms: int
    venue: str
    symbol: str
    side: PositionSide
    price: float
    quantity_base: float
    notional_quote: float
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LiquidationEvent:
        return cls(
            time_ms=int(data["time_ms"]), venue=str(data["venue"]), symbol=str(data["symbol"]),
            side=data["side"], price=float(data["price"]),
            quantity_base=float(data["quantity_base"]),
            notional_quote=float(data["notional_quote"]), event_id=str(data["event_id"]),
        )


def event_id(
    venue: str, symbol: str, time_ms: int, side: str, price: float, quantity_base: float
) -> str:
    """A 20-hex-digit digest of the event's identifying fields (floats by their `repr`)."""
    key = f"{venue}|{symbol}|{time_ms}|{side}|{price!r}|{quantity_base!r}"
    return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def normalise(
    raw: Mapping[str, Any], *, venue: str, symbol: str, contract_size: float = 1.0
) -> LiquidationEvent:
    """The event behind one ccxt liquidation structure (`timestamp`, `side`, `price`,
    `contracts`, optional `contractSize`) of the configured `symbol` on `venue`.

    Base quantity is `contracts * contractSize` (the structure's contract size, else the
    market's `contract_size`). Raises `MalformedLiquidation` for a missing or impossible field
    and `KeyError` for a venue without a side convention.
    """
    sides = LIQUIDATED_SIDE[venue]
    time_ms = _positive_int(raw.get("timestamp"), "timestamp")
    side_text = raw.get("side")
    side = sides.get(side_text.lower()) if isinstance(side_text, str) else None
    if side is None:
        raise MalformedLiquidation(f"side {side_text!r} is not one of {sorted(sides)}")
    price = _positive_float(raw.get("price"), "price")
    contracts = _positive_float(raw.get("contracts"), "contracts")
    size = raw.get("contractSize")
    multiplier = _positive_float(size, "contractSize") if size is not None else contract_size
    quantity = contracts * multiplier
    notional = price * quantity
    if not math.isfinite(notional):
        raise MalformedLiquidation(f"notional {notional!r} is not finite")
    return LiquidationEvent(
        time_ms=time_ms, venue=venue, symbol=symbol, side=side, price=price,
        quantity_base=quantity, notional_quote=notional,
        event_id=event_id(venue, symbol, time_ms, side, price, quantity),
    )


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedLiquidation(f"{name} {value!r} is not a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise MalformedLiquidation(f"{name} {value!r} is not a number") from exc
    if not math.isfinite(number) or number <= 0:
        raise MalformedLiquidation(f"{name} {value!r} is not a positive finite number")
    return number


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MalformedLiquidation(f"{name} {value!r} is not a positive integer")
    return value
