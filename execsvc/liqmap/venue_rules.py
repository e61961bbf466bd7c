"""Venue margin rules as bracket tables: maintenance rate, `cum` and maximum leverage per
notional range, per (venue, coin), and each venue's liquidation formula. Pure data and
arithmetic, no I/O. (Where orders go is the other sense of "venue": `execsvc/venues/`.)

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

**Bybit** (risk-limit tiers of linear perpetuals, `/v5/market/risk-limit`: `riskLimitValue`
is the tier's notional cap in USDT, `maintenanceMargin` the rate, `maxLeverage`; Bybit's
"MM deduction" is Binance's `cum`, so the isolated liquidation price is Binance's formula over
these tiers; Bybit's estimated closing fee, which it adds to the maintenance margin, is left
out). Figures: BTCUSDT's first three tiers as published in the carpenstar/bybitapi-sdk-
derivatives README (commit 869fb018f5c622023bf58f33cee6ee29cdc90632, a recorded testnet
answer of the risk-limit endpoint; read 2026-12-02): 0.5 % to 2M USDT at 100x, 1 % to 4M at
57.14x, 1.5 % to 6M at 40x. Bybit picks the tier by the position value at entry:
`venue_formula("bybit")` is `margin.bybit_liquidation_price`. Higher tiers are not in that
answer: the last tier's rate goes on above 6M (understated for whale-sized positions). No
ETHUSDT figures were found: ETH uses BTCUSDT's table as the stated stand-in.

**OKX** (`/api/v5/public/position-tiers`, `tdMode=cross`, SWAP): tier 1 of the BTC-USDT and
ETH-USDT families, recorded live in public client tests (read 2026-12-02): `mmr` 0.004,
`maxLever` 100, up to 1,000 contracts (BTC-USDT-SWAP, 0.01 BTC each: 10 BTC) and 5,000
contracts (ETH-USDT-SWAP, 0.1 ETH each: 500 ETH). OKX sizes tiers in contracts, not quote: the
bundled table is tier 1 over every notional (its higher tiers were not found), stated as a
stand-in that understates the rate of positions above tier 1. Live sources read the tiers
from OKX and convert contracts to quote at the mark price. OKX's isolated liquidation price
follows the same maintenance-rate rule (`margin.liquidation_price`, one bracket, `cum = 0`).

**Lighter** (`/api/v1/orderBookDetails`: `min_initial_margin_fraction`,
`maintenance_margin_fraction`, in basis points of the position's value; one flat rate per
market, no tiers): BTC and ETH `min_initial_margin_fraction` 200 (50x) and
`maintenance_margin_fraction` 100 (1 %), as in the market fixture of the go-lighter SDK tests
(tonymontanov/go-lighter, read 2026-12-02). That fixture is not labelled as a mainnet capture
and Lighter's own margin page is not in the reference library: a stated stand-in until the
venue's published figures are read. A flat rate makes Lighter's isolated liquidation price
Binance's formula with one bracket and `cum = 0`.
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


BYBIT_RISK_LIMITS: dict[str, list[tuple[float, float, float]]] = {
    "BTC": [(0.0, 0.005, 100.0), (2e6, 0.01, 57.14), (4e6, 0.015, 40.0)],
}
"""Bybit linear risk-limit tiers: (notional floor in USDT, maintenance rate, max leverage)."""

OKX_TIER_ONE: dict[str, tuple[float, float]] = {"BTC": (0.004, 100.0), "ETH": (0.004, 100.0)}
"""OKX USDT swap tier 1: (maintenance rate, max leverage), over every notional (stand-in)."""

LIGHTER_MARGIN: dict[str, tuple[float, float]] = {"BTC": (0.01, 50.0), "ETH": (0.01, 50.0)}
"""Lighter flat margin per market: (maintenance rate, max leverage)."""


def bybit_brackets(coin: str) -> list[Bracket]:
    """Bybit's risk-limit tiers of `<coin>USDT` (BTCUSDT's as the stated stand-in)."""
    return brackets_from_floors(BYBIT_RISK_LIMITS.get(coin.upper(), BYBIT_RISK_LIMITS["BTC"]))


def okx_brackets(coin: str) -> list[Bracket]:
    """OKX's tier 1 of `<coin>-USDT-SWAP` as one bracket (stand-in above tier 1)."""
    rate, leverage = _flat(OKX_TIER_ONE, coin, "OKX")
    return brackets_from_floors([(0.0, rate, leverage)])


def lighter_brackets(coin: str) -> list[Bracket]:
    """Lighter's flat margin of `coin` as one bracket."""
    rate, leverage = _flat(LIGHTER_MARGIN, coin, "Lighter")
    return brackets_from_floors([(0.0, rate, leverage)])


def _flat(table: dict[str, tuple[float, float]], coin: str, venue: str) -> tuple[float, float]:
    found = table.get(coin.upper())
    if found is None:
        raise KeyError(f"no bundled {venue} margin for {coin!r}; bundled: "
                       f"{', '.join(sorted(table))}")
    return found


def binanceusdm_brackets(coin: str) -> list[Bracket]:
    """Binance USD-M's bundled table of `<coin>USDT` (BTCUSDT's as the stated stand-in)."""
    return list(BINANCE_USDM_BRACKETS.get(f"{coin.upper()}USDT", BINANCE_USDM_BRACKETS["BTCUSDT"]))


VENUE_BRACKETS = {"hyperliquid": hyperliquid_brackets, "binanceusdm": binanceusdm_brackets,
                  "bybit": bybit_brackets, "okx": okx_brackets, "lighter": lighter_brackets}
"""Bundled bracket tables per venue id (ccxt's ids), keyed by coin (e.g. `BTC`)."""


VENUE_FORMULAS = {"bybit": "bybit"}
"""The liquidation formula of each venue (`margin.LIQUIDATION_FORMULAS`; `MapParams.formula`):
Bybit picks the tier by the position value at entry (`margin.bybit_liquidation_price`); every
other venue here uses Binance's rule, the tier picked at the liquidation price."""


def venue_formula(venue: str) -> str:
    """The `margin.LIQUIDATION_FORMULAS` key of `venue` (module docstring)."""
    return VENUE_FORMULAS.get(venue, "binance")


def venue_brackets(venue: str, coin: str) -> list[Bracket]:
    """The bundled bracket table of `coin` on `venue`; `KeyError` naming what exists."""
    table = VENUE_BRACKETS.get(venue)
    if table is None:
        raise KeyError(f"no bundled margin rules for venue {venue!r}; "
                       f"bundled: {', '.join(sorted(VENUE_BRACKETS))}")
    return table(coin)
