"""The recorded markets `execsvc backtest` runs on, and what the worker would have fetched from
them at an entry time.

- The bundled evaluation set (`execsvc/evaluation/data/markets/`, DATA.md): Binance USD-M
  hourly candles with Hyperliquid hourly open interest for BTC, ETH, SOL, HYPE and DOGE,
  2025-11-16 to 2026-03-05; maps priced with Hyperliquid's margin rules as `execsvc evaluate`
  does; open interest taken as known one hour after its stamp (`evaluation.predict`).
- The replayed FTX BTC-PERP month (`execsvc/market/data/BTC-PERP.npz`): 1-minute candles, no
  open interest (the volume proxy model), Binance's BTCUSDT brackets as the stand-in.

A snapshot at `now_ms` holds only candles closed by then (and open interest known by then):
the map of an entry is built from data strictly before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from execsvc.domain.brackets import bracket_table
from execsvc.domain.units import MarketPrecision
from execsvc.evaluation.inputs import CoinMarket, load_market
from execsvc.evaluation.predict import snapshot_at
from execsvc.liqmap.candles import Candles
from execsvc.maps.refresh import MarketSnapshot
from execsvc.market.precision import BUNDLED_PRECISION, inferred_precision
from execsvc.market.replay import DATA_DIR as REPLAY_DIR
from execsvc.market.replay import load_dataset, manifest_entry
from execsvc.market.types import SymbolInfo

EVALUATION_MARKETS = Path(__file__).resolve().parents[1] / "evaluation" / "data" / "markets"
EVALUATION_COINS = ("BTC", "ETH", "SOL", "HYPE", "DOGE")
EVALUATION_VENUE = "hyperliquid"
FTX_SYMBOL = "BTC-PERP"


@dataclass(frozen=True, slots=True)
class BacktestMarket:
    """One recorded market: its candles, its open interest (the evaluation set's `CoinMarket`,
    None for the FTX month) and its grid."""

    name: str
    candles: Candles
    precision: MarketPrecision
    coin_market: CoinMarket | None = None

    @property
    def first_open_ms(self) -> int:
        """When the map can first see a full window: the first open-interest sample known, or
        the first candle without open interest."""
        if self.coin_market is not None:
            return int(self.coin_market.open_interest.time_ms[0]) + 3_600_000
        return int(self.candles.open_time_ms[0])

    def snapshot(self, now_ms: int, lookback_s: int) -> MarketSnapshot:
        """What the worker would have fetched at `now_ms` (module docstring)."""
        if self.coin_market is not None:
            found = snapshot_at(self.coin_market, now_ms, lookback_s, EVALUATION_VENUE)
            return MarketSnapshot(found.info, found.now_ms, found.candles, found.open_interest,
                                  found.brackets, found.price, funding=found.funding,
                                  precision=self.precision)
        candles = self.candles
        closed = int(np.searchsorted(candles.open_time_ms, now_ms - candles.interval_ms,
                                     side="right"))
        window = candles.slice(0, closed).since(now_ms - lookback_s * 1000)
        return MarketSnapshot(SymbolInfo(self.name, "ftx", "USD", False), now_ms, window, None,
                              bracket_table(self.name), float(window.close[-1]),
                              precision=self.precision)

    def path(self, start_ms: int, horizon_ms: int) -> Candles:
        """The candles opening in `[start_ms, start_ms + horizon_ms)`."""
        candles = self.candles
        first = int(np.searchsorted(candles.open_time_ms, start_ms, side="left"))
        stop = int(np.searchsorted(candles.open_time_ms, start_ms + horizon_ms, side="left"))
        return candles.slice(first, stop)


def evaluation_markets(directory: Path = EVALUATION_MARKETS,
                       coins: tuple[str, ...] = EVALUATION_COINS) -> list[BacktestMarket]:
    markets = []
    for coin in coins:
        market = load_market(directory / coin)
        prices = np.concatenate([market.candles.close, market.candles.high])
        markets.append(BacktestMarket(coin, market.candles, inferred_precision(prices), market))
    return markets


def ftx_market() -> BacktestMarket:
    dataset = load_dataset(REPLAY_DIR, FTX_SYMBOL, manifest_entry(REPLAY_DIR, FTX_SYMBOL))
    return BacktestMarket(FTX_SYMBOL, dataset.candles, BUNDLED_PRECISION[FTX_SYMBOL])
