"""Liquidation prices of linear (USDT-margined) perpetual positions.

The maintenance brackets the formulas read (notional range, maintenance margin rate, `cum`) are
`execsvc.domain.brackets.Bracket`. `side` is "long" or "short"; functions accept numpy arrays
for prices and quantities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from execsvc.domain.brackets import Bracket
from execsvc.domain.units import PositionSide, position_side_sign


def binance_liquidation_price_for_wallet(
    side: PositionSide,
    entry_price: np.ndarray | float,
    quantity: np.ndarray | float,
    wallet_balance: np.ndarray | float,
    brackets: Sequence[Bracket],
) -> np.ndarray | float:
    """Binance USD-M liquidation price of a single position backed by `wallet_balance` (quote).

    `LP = (WB + cum - s*Q*EP) / (Q*MMR - s*Q)` with s = +1 long, -1 short, Q base quantity,
    EP entry price. The bracket is the one whose range holds the notional at the liquidation
    price, `Q*LP`, which is why every bracket is tried and the consistent one kept. For a
    one-position cross account WB is the cross wallet balance; isolated uses the initial margin.
    A result <= 0 means the position cannot be liquidated (returned as 0.0).
    """
    s = position_side_sign(side)
    ep = np.asarray(entry_price, dtype=np.float64)
    q = np.asarray(quantity, dtype=np.float64)
    wb = np.asarray(wallet_balance, dtype=np.float64)
    result = np.full(np.broadcast(ep, q, wb).shape, np.nan)
    # Per unit of quantity, so a vanishing quantity cannot overflow the division; a bracket
    # whose `cum` a tiny position cannot carry gives inf and simply does not fit.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for bracket in brackets:
            lp = (wb / q + bracket.cum / q - s * ep) / (bracket.mmr - s)
            notional = q * np.maximum(lp, 0.0)
            fits = (notional >= bracket.notional_floor) & (notional < bracket.notional_cap)
            result = np.where(np.isnan(result) & fits, lp, result)
    result = np.where(np.isnan(result), lp, result)  # beyond the last cap: the top bracket
    result = np.maximum(result, 0.0)
    return float(result) if result.ndim == 0 else result


def liquidation_price(
    side: PositionSide,
    entry_price: np.ndarray | float,
    quantity: np.ndarray | float,
    leverage: np.ndarray | float,
    brackets: Sequence[Bracket],
) -> np.ndarray | float:
    """Binance USD-M isolated-margin liquidation price.

    The isolated wallet is the initial margin `WB = Q*EP/L`, so
    `LP = (Q*EP/L + cum - s*Q*EP) / (Q*MMR - s*Q)` with the bracket picked by `Q*LP`.
    Units: prices in quote per base, quantity in base, leverage a plain multiple (25 = 25x).
    """
    ep = np.asarray(entry_price, dtype=np.float64)
    q = np.asarray(quantity, dtype=np.float64)
    wallet = q * ep / np.asarray(leverage, dtype=np.float64)
    return binance_liquidation_price_for_wallet(side, ep, q, wallet, brackets)


def bybit_liquidation_price(
    side: PositionSide,
    entry_price: np.ndarray | float,
    quantity: np.ndarray | float,
    leverage: np.ndarray | float,
    brackets: Sequence[Bracket],
) -> np.ndarray | float:
    """Bybit USDT-perpetual isolated-margin liquidation price (fees to close ignored).

    `LP = EP - s*(IM - MM)/Q` with `IM = Q*EP/L`, `MM = Q*EP*MMR - deduction`; Bybit picks the
    risk-limit tier (bracket, deduction = `cum`) by the position value at entry, `Q*EP`.
    """
    s = position_side_sign(side)
    ep = np.asarray(entry_price, dtype=np.float64)
    q = np.asarray(quantity, dtype=np.float64)
    lev = np.asarray(leverage, dtype=np.float64)
    value = q * ep
    floors = np.array([b.notional_floor for b in brackets])
    tier = np.clip(np.searchsorted(floors, value, side="right") - 1, 0, len(brackets) - 1)
    mmr = np.array([b.mmr for b in brackets])[tier]
    deduction = np.array([b.cum for b in brackets])[tier]
    initial = value / lev
    maintenance = value * mmr - deduction
    result = np.maximum(ep - s * (initial - maintenance) / q, 0.0)
    return float(result) if result.ndim == 0 else result


LIQUIDATION_FORMULAS = {
    "binance": liquidation_price,
    "bybit": bybit_liquidation_price,
}


def liquidation_price_ratio(
    side: PositionSide,
    leverage: float,
    position_notional_quote: float,
    brackets: Sequence[Bracket],
    formula: str = "binance",
) -> float:
    """`LP / EP` for a position of `position_notional_quote` opened at any entry price.

    Both formulas are homogeneous in price when the notional (not the base quantity) is held
    fixed, so one ratio per (side, leverage) prices a whole cohort array by multiplication:
    evaluate at EP = 1 with Q = notional.
    """
    price = LIQUIDATION_FORMULAS[formula](side, 1.0, position_notional_quote, leverage, brackets)
    return float(price)
