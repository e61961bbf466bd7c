"""The position a stop protects: where it is liquidated, and the leverage or size at which a
given stop lies inside that price (pure; no I/O).

Liquidation prices are `execsvc.liqmap.margin`'s, the functions the paper engine uses:

- isolated: `liquidation_price(side, entry, quantity, leverage, brackets)`, the wallet being
  the initial margin `quantity * entry / leverage`;
- cross: `binance_liquidation_price_for_wallet` with the wallet `account_equity_quote` (the
  account's margin balance, all of which backs the position: one position per account);
  without it, the position's initial margin, which makes cross the same as isolated.

Without a quantity the position is priced in the first maintenance bracket (a notional of one
quote unit): the liquidation ratio then depends on the leverage only.

A stop is *inside* the liquidation price when it lies between the entry and that price with
at least a gap `gap_quote` (quote per base) to spare, so the stop-market order triggers and
fills before the exchange liquidates. Raising the leverage of an isolated position moves its
liquidation price toward the entry, as does a larger quantity on a cross account with fixed
equity: both are searched by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from execsvc.domain.brackets import Bracket
from execsvc.domain.units import PositionSide, position_side_sign
from execsvc.liqmap.margin import binance_liquidation_price_for_wallet, liquidation_price

MarginMode = Literal["isolated", "cross"]
BISECTION_STEPS = 60


@dataclass(frozen=True, slots=True)
class PositionSpec:
    """A position's margin: `leverage` (a multiple, 20 = 20x), `margin_mode`, the account's
    equity for cross (quote), and the symbol's maintenance brackets."""

    leverage: float
    margin_mode: MarginMode
    brackets: Sequence[Bracket]
    account_equity_quote: float | None = None

    def wallet_quote(self, entry: float, quantity: float) -> float:
        """The wallet behind the position (quote): cross equity, else the initial margin."""
        if self.margin_mode == "cross" and self.account_equity_quote is not None:
            return self.account_equity_quote
        return quantity * entry / self.leverage

    def liquidation_price(self, side: PositionSide, entry: float,
                          quantity: float | None) -> float | None:
        """Where the position is liquidated (quote per base), None when it cannot be (a long
        whose formula gives <= 0)."""
        size = quantity if quantity is not None and quantity > 0 else 1.0 / entry
        if self.margin_mode == "cross" and self.account_equity_quote is not None:
            price = binance_liquidation_price_for_wallet(
                side, entry, size, self.account_equity_quote, self.brackets)
        else:
            price = liquidation_price(side, entry, size, self.leverage, self.brackets)
        price = float(price)
        return price if math.isfinite(price) and price > 0.0 else None


def stop_inside(side: PositionSide, stop: float, liquidation: float | None, gap: float) -> bool:
    """Whether `stop` triggers at least `gap` (quote per base) before `liquidation`."""
    if liquidation is None:
        return True
    return position_side_sign(side) * (stop - liquidation) >= gap


def max_leverage_for_stop(
    side: PositionSide, entry: float, quantity: float | None, stop: float, gap: float,
    spec: PositionSpec,
) -> float | None:
    """The largest whole leverage (1 .. `spec.leverage`) at which an isolated position keeps
    `stop` inside its liquidation price; None when even 1x does not."""
    def fits(leverage: float) -> bool:
        trial = PositionSpec(leverage, "isolated", spec.brackets)
        return stop_inside(side, stop, trial.liquidation_price(side, entry, quantity), gap)

    if not fits(1.0):
        return None
    low, high = 1.0, max(1.0, spec.leverage)
    if fits(high):
        return float(math.floor(high))
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2.0
        low, high = (middle, high) if fits(middle) else (low, middle)
    return float(math.floor(low))


def max_quantity_for_stop(
    side: PositionSide, entry: float, quantity: float, stop: float, gap: float,
    spec: PositionSpec,
) -> float | None:
    """The largest quantity (base, at most `quantity`) a cross account of
    `spec.account_equity_quote` can hold with `stop` inside its liquidation price; None when
    the account has no equity figure or no quantity fits."""
    equity = spec.account_equity_quote
    if spec.margin_mode != "cross" or equity is None:
        return None

    def fits(size: float) -> bool:
        return stop_inside(side, stop, spec.liquidation_price(side, entry, size), gap)

    if fits(quantity):
        return quantity
    low, high = 0.0, quantity
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2.0
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low if low > 0.0 else None
