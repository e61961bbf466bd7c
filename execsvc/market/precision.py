"""Where a symbol's exchange grid (`domain.units.MarketPrecision`: tick and lot) comes from.

- Live (`CcxtSource`): the loaded ccxt market, `market["precision"]`: under ccxt's `TICK_SIZE`
  mode (Binance, Bybit, Hyperliquid, ...) `price` is the tick and `amount` the lot step
  (Binance's `PRICE_FILTER.tickSize` and `LOT_SIZE.stepSize`); under `DECIMAL_PLACES` they are
  decimal counts (`10**-n`). `SIGNIFICANT_DIGITS` markets have no fixed grid and are refused.
  A venue that sizes orders in contracts (OKX swaps: `contractSize` 0.01 BTC) states the lot
  in contracts; the service's quantities are base units (books are converted with the same
  `contract_size`), so the lot is `amount * contract_size` base units.
- Replay: `BUNDLED_PRECISION`, figures with their origin in DATA.md ("Exchange grid").
- CSV data (`execsvc map --data`): inferred from the candles' prices (the coarsest power of ten
  every price is a multiple of), lot `DEFAULT_CSV_LOT`; the `source` says so.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from execsvc.domain.units import MarketPrecision

BUNDLED_PRECISION: dict[str, MarketPrecision] = {
    "BTCUSDT": MarketPrecision(
        0.1, 0.001, "bundled: Binance USD-M BTCUSDT, tick of the recorded 2024 books, "
        "LOT_SIZE stepSize of the recorded exchangeInfo (DATA.md)"),
    "ETHUSDT": MarketPrecision(
        0.01, 0.001, "bundled: Binance USD-M ETHUSDT, PRICE_FILTER tickSize and LOT_SIZE "
        "stepSize of the recorded exchangeInfo (DATA.md)"),
    "BTC-PERP": MarketPrecision(
        1.0, 0.0001, "bundled: FTX BTC-PERP, whole dollars as 99.98 % of the recorded prices, "
        "and FTX's sizeIncrement (DATA.md)"),
}
"""The grid of each replayed symbol (origin of every figure in DATA.md)."""

DEFAULT_CSV_LOT = 0.001


class PrecisionError(ValueError):
    """A market whose precision cannot be read as a tick and a lot step."""


def contract_size(market: dict[str, Any]) -> float:
    """Base units per contract of a ccxt market (OKX swaps: `ctVal`; 1 where sizes are base)."""
    return float(market.get("contractSize") or 1.0) if market.get("contract") else 1.0


def precision_from_ccxt(market: dict[str, Any], precision_mode: int) -> MarketPrecision:
    """The grid of a loaded ccxt market (see the module docstring). ccxt is imported here,
    not with the module: replay and CSV sources never load it."""
    from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

    precision = market.get("precision") or {}
    price, amount = precision.get("price"), precision.get("amount")
    if price is None or amount is None:
        raise PrecisionError(f"market {market.get('id')} has no price/amount precision")
    if precision_mode == TICK_SIZE:
        tick, lot = float(price), float(amount)
    elif precision_mode == DECIMAL_PLACES:
        tick, lot = 10.0 ** -int(price), 10.0 ** -int(amount)
    else:
        raise PrecisionError(f"market {market.get('id')}: precision mode {precision_mode} gives "
                             "no fixed tick (significant digits)")
    size = contract_size(market)
    if size == 1.0:
        return MarketPrecision(tick, lot, "exchange markets")
    return MarketPrecision(tick, float(Decimal(repr(lot)) * Decimal(repr(size))),
                           f"exchange markets (lot of {lot:g} contracts of {size:g} base)")


def infer_tick(prices: np.ndarray, max_decimals: int = 8) -> float:
    """The coarsest power of ten (1 down to `10**-max_decimals`) every price is a multiple of
    (within 1e-6 of a step)."""
    values = np.asarray(prices, dtype=np.float64)
    values = values[np.isfinite(values)]
    for decimals in range(max_decimals + 1):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6):
            return 10.0**-decimals
    return 10.0**-max_decimals


def inferred_precision(prices: np.ndarray) -> MarketPrecision:
    """The grid of CSV data: tick inferred from its prices, lot `DEFAULT_CSV_LOT`."""
    tick = infer_tick(prices)
    return MarketPrecision(tick, DEFAULT_CSV_LOT,
                           f"inferred: prices quoted in steps of {tick:g}; lot assumed "
                           f"{DEFAULT_CSV_LOT:g}")

