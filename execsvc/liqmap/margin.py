"""Liquidation prices of linear (USDT-margined) perpetual positions.

A maintenance bracket (Binance calls them leverage brackets, Bybit risk-limit tiers) covers the
position notional range `[notional_floor, notional_cap)` in quote currency, with a maintenance
margin rate `mmr` (a fraction, 0.004 = 0.4 %) and a maintenance amount `cum` (quote currency;
Bybit's "MM deduction") that keeps the maintenance margin continuous across bracket edges:
`cum_k = cum_{k-1} + notional_floor_k * (mmr_k - mmr_{k-1})`. A bracket may also carry the
venue's maximum leverage for that notional range (`max_leverage`, inf when unknown), which caps
the leverage a map assumes positions of that size can carry.

`side` is "long" or "short"; functions accept numpy arrays for prices and quantities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Side = Literal["long", "short"]


@dataclass(frozen=True, slots=True)
class Bracket:
    """One maintenance bracket: notional range in quote currency, rate as a fraction, cum in
    quote currency, and the venue's maximum leverage in the range (inf when not known)."""

    notional_floor: float
    notional_cap: float
    mmr: float
    cum: float
    max_leverage: float = math.inf


def brackets_from_floors(
    floors_and_rates: Sequence[tuple[float, float]] | Sequence[tuple[float, float, float]],
) -> list[Bracket]:
    """Build a bracket table from `(notional_floor, mmr)` or `(notional_floor, mmr,
    max_leverage)` tuples, deriving each cap from the next floor and `cum` from the continuity
    rule in the module docstring."""
    rows = sorted(tuple(float(v) for v in row) for row in floors_and_rates)
    if not rows or rows[0][0] != 0.0:
        raise ValueError("the first bracket must start at notional 0")
    brackets: list[Bracket] = []
    cum = 0.0
    previous_rate = rows[0][1]
    for k, row in enumerate(rows):
        floor, rate = row[0], row[1]
        cum += floor * (rate - previous_rate)
        cap = rows[k + 1][0] if k + 1 < len(rows) else float("inf")
        max_leverage = row[2] if len(row) > 2 else math.inf
        brackets.append(Bracket(floor, cap, rate, cum, max_leverage))
        previous_rate = rate
    return brackets


def max_leverage_for(brackets: Sequence[Bracket], notional_quote: float) -> float:
    """The venue's maximum leverage for a position of `notional_quote` (its bracket's
    `max_leverage`; inf when the table does not say)."""
    for bracket in brackets:
        if bracket.notional_floor <= notional_quote < bracket.notional_cap:
            return bracket.max_leverage
    return brackets[-1].max_leverage if brackets else math.inf


# Binance USD-M maintenance brackets (notional floor in USDT, maintenance margin rate) as
# recorded in ccxt's static test fixture for binance (ccxt/ccxt ts/src/test/static/response/
# binance.json, commit 05776890e288bf88d1aeba7b62da9e697d3e37f5, MIT). See DATA.md.
BINANCE_USDM_BRACKETS: dict[str, list[Bracket]] = {
    "BTCUSDT": brackets_from_floors(
        [(0, 0.004), (50_000, 0.005), (250_000, 0.01), (3_000_000, 0.025),
         (20_000_000, 0.05), (40_000_000, 0.1), (100_000_000, 0.125),
         (120_000_000, 0.15), (200_000_000, 0.25), (300_000_000, 0.5)]
    ),
    "ETHUSDT": brackets_from_floors(
        [(0, 0.005), (100_000, 0.0065), (250_000, 0.01), (2_000_000, 0.02),
         (15_000_000, 0.05), (30_000_000, 0.1), (60_000_000, 0.125),
         (80_000_000, 0.15), (100_000_000, 0.25), (150_000_000, 0.5)]
    ),
}


STAND_IN_TABLE = "BTCUSDT"


def bracket_table(symbol: str) -> list[Bracket]:
    """The bundled Binance USD-M brackets of `symbol`, or BTCUSDT's (a stand-in, stated in
    DATA.md) for a symbol without a bundled table; live sources read the exchange's own."""
    return BINANCE_USDM_BRACKETS.get(symbol) or BINANCE_USDM_BRACKETS[STAND_IN_TABLE]


def _sign(side: Side) -> int:
    if side == "long":
        return 1
    if side == "short":
        return -1
    raise ValueError(f"side must be 'long' or 'short', not {side!r}")


def binance_liquidation_price_for_wallet(
    side: Side,
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
    s = _sign(side)
    ep = np.asarray(entry_price, dtype=np.float64)
    q = np.asarray(quantity, dtype=np.float64)
    wb = np.asarray(wallet_balance, dtype=np.float64)
    result = np.full(np.broadcast(ep, q, wb).shape, np.nan)
    for bracket in brackets:
        lp = (wb + bracket.cum - s * q * ep) / (q * bracket.mmr - s * q)
        notional = q * np.maximum(lp, 0.0)
        fits = (notional >= bracket.notional_floor) & (notional < bracket.notional_cap)
        result = np.where(np.isnan(result) & fits, lp, result)
    result = np.where(np.isnan(result), lp, result)  # beyond the last cap: the top bracket
    result = np.maximum(result, 0.0)
    return float(result) if result.ndim == 0 else result


def liquidation_price(
    side: Side,
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
    side: Side,
    entry_price: np.ndarray | float,
    quantity: np.ndarray | float,
    leverage: np.ndarray | float,
    brackets: Sequence[Bracket],
) -> np.ndarray | float:
    """Bybit USDT-perpetual isolated-margin liquidation price (fees to close ignored).

    `LP = EP - s*(IM - MM)/Q` with `IM = Q*EP/L`, `MM = Q*EP*MMR - deduction`; Bybit picks the
    risk-limit tier (bracket, deduction = `cum`) by the position value at entry, `Q*EP`.
    """
    s = _sign(side)
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
    side: Side,
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
