"""Realised liquidations: the one event type every part shares. Pure, no I/O.

A `LiquidationEvent` is one forced close reported by a venue: `time_ms` (epoch ms, the venue's
trade time), `venue` (ccxt id), `symbol` (the configured key, e.g. `BTCUSDT`), `side` of the
**liquidated position** (`long` | `short`), `price` (quote per base unit, the fill's average
price where the venue gives it), `quantity_base` (base units), `notional_quote`
(`price * quantity_base`, linear contracts) and `event_id`, a digest of those fields that
identifies the event across reconnects and replicas.

Two liquidations identical in venue, symbol, millisecond, side, price and quantity get the same
`event_id` and are stored once: that is how a duplicate delivery is recognised. Binance's
one-per-second sampling makes a true collision impossible there; on Bybit it would take two
identical liquidations in the same millisecond.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from execsvc.domain.units import PositionSide

SAMPLING_NOTES: dict[str, str] = {
    "binanceusdm": (
        "Binance sends at most one liquidation per symbol per second (the latest in each "
        "1000 ms), so its stream is a sample: counts and totals are lower bounds."
    ),
}
"""Venues whose public stream is a sample of the liquidations, with what that means."""


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
