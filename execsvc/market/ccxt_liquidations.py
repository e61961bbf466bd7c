"""ccxt's public liquidation structures -> `LiquidationEvent` (pure: no ccxt import).

Venues report different sides: Binance's `forceOrder` carries the side of the liquidation
*order* (a SELL closes a long), Bybit's `allLiquidation` the side of the *position* (Buy is a
liquidated long). `LIQUIDATED_SIDE` holds each supported venue's convention; a venue without
one is refused rather than guessed. OKX is left out on purpose: ccxt keeps only the first of
the `details` in each of its pushes, which would lose events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from execsvc.domain.liquidations import LiquidationEvent, event_id
from execsvc.domain.units import PositionSide

LIQUIDATED_SIDE: dict[str, dict[str, PositionSide]] = {
    # forceOrder "S" is the liquidation order's side: selling closes a long position
    "binanceusdm": {"sell": "long", "buy": "short"},
    # allLiquidation "S" is the position's side: "Buy" means a long position was liquidated
    "bybit": {"buy": "long", "sell": "short"},
}
"""Per venue: ccxt's lower-cased `side` of a public liquidation -> the liquidated position."""

class MalformedLiquidation(ValueError):
    """A liquidation structure that cannot be a real event; `str()` names the field."""


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
