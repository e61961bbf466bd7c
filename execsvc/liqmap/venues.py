"""Venue margin rules as bracket tables: maintenance rate, `cum` and maximum leverage per
notional range, per (venue, coin). Pure data and arithmetic, no I/O.

Live sources read these from the exchange (ccxt leverage tiers: `maintenanceMarginRate`,
`maxLeverage`); the tables here are the bundled values for replay and evaluation.

**Hyperliquid** (<https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers> and
`.../trading/liquidations`, read 2026-12 for the late-2025 data): the maintenance margin rate of
a tier is half the initial margin rate at the tier's maximum leverage, `mmr = 1 / (2 * max_lev)`,
with a maintenance deduction continuous across tiers, which is Binance's `cum` rule. Its
isolated liquidation price `liq = price - side * margin_available / size / (1 - side * mmr)`
with `margin_available = size * price / L - size * price * mmr` equals Binance's formula with a
single bracket of that rate and `cum = 0` (`margin.liquidation_price`), so both venues share one
formula behind the bracket table.
"""

from __future__ import annotations

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS, Bracket, brackets_from_floors

HYPERLIQUID_MARGIN_TIERS: dict[str, list[tuple[float, float]]] = {
    "BTC": [(0.0, 40.0), (150e6, 20.0)],
    "ETH": [(0.0, 25.0), (100e6, 15.0)],
    "SOL": [(0.0, 20.0), (70e6, 10.0)],
    "XRP": [(0.0, 20.0), (40e6, 10.0)],
    "HYPE": [(0.0, 10.0), (20e6, 5.0)],
    "DOGE": [(0.0, 10.0), (20e6, 5.0)],
}
"""Mainnet margin tiers: (notional floor in USDC, maximum leverage), from the page above."""


def hyperliquid_brackets(coin: str) -> list[Bracket]:
    """Hyperliquid's margin tiers of `coin` as brackets (`mmr = 1 / (2 * max_leverage)`)."""
    tiers = HYPERLIQUID_MARGIN_TIERS.get(coin.upper())
    if tiers is None:
        raise KeyError(f"no bundled Hyperliquid margin tiers for {coin!r}; "
                       f"bundled: {', '.join(sorted(HYPERLIQUID_MARGIN_TIERS))}")
    return brackets_from_floors([(floor, 0.5 / lev, lev) for floor, lev in tiers])


def binanceusdm_brackets(coin: str) -> list[Bracket]:
    """Binance USD-M's bundled table of `<coin>USDT` (BTCUSDT's as the stated stand-in)."""
    return list(BINANCE_USDM_BRACKETS.get(f"{coin.upper()}USDT", BINANCE_USDM_BRACKETS["BTCUSDT"]))


VENUE_BRACKETS = {"hyperliquid": hyperliquid_brackets, "binanceusdm": binanceusdm_brackets}
"""Bundled bracket tables per venue id (ccxt's ids), keyed by coin (e.g. `BTC`)."""


def venue_brackets(venue: str, coin: str) -> list[Bracket]:
    """The bundled bracket table of `coin` on `venue`; `KeyError` naming what exists."""
    table = VENUE_BRACKETS.get(venue)
    if table is None:
        raise KeyError(f"no bundled margin rules for venue {venue!r}; "
                       f"bundled: {', '.join(sorted(VENUE_BRACKETS))}")
    return table(coin)
