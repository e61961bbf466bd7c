"""Maintenance-margin brackets of linear perpetuals, and the bundled Binance USD-M tables.

A maintenance bracket (Binance calls them leverage brackets, Bybit risk-limit tiers) covers the
position notional range `[notional_floor, notional_cap)` in quote currency, with a maintenance
margin rate `mmr` (a fraction, 0.004 = 0.4 %) and a maintenance amount `cum` (quote currency;
Bybit's "MM deduction") that keeps the maintenance margin continuous across bracket edges:
`cum_k = cum_{k-1} + notional_floor_k * (mmr_k - mmr_{k-1})`. A bracket may also carry the
venue's maximum leverage for that notional range (`max_leverage`, inf when unknown), which caps
the leverage a map assumes positions of that size can carry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


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
"""The table a symbol without a bundled one uses (a BTC linear perp; stated in DATA.md)."""


def bundled_table(symbol: str) -> list[Bracket] | None:
    """The bundled Binance USD-M brackets of `symbol`, or None when none is bundled."""
    table = BINANCE_USDM_BRACKETS.get(symbol)
    return None if table is None else list(table)


def has_bundled_table(symbol: str) -> bool:
    return symbol in BINANCE_USDM_BRACKETS


def bracket_table(symbol: str) -> list[Bracket]:
    """The bundled brackets of `symbol`, or the stand-in `STAND_IN_TABLE`'s: the one rule for
    replayed, CSV and paper data. Live market data reads the exchange's own (`bundled_table`
    only as a keyless fallback, never a stand-in)."""
    return list(BINANCE_USDM_BRACKETS.get(symbol) or BINANCE_USDM_BRACKETS[STAND_IN_TABLE])
