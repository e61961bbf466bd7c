"""Candles as the model reads them: parallel float64 arrays, oldest first, times in epoch ms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Candles:
    """OHLCV candles as parallel float64 arrays, oldest first.

    `volume` is in base units. `taker_buy_volume` (base units) is NaN where the venue does not
    report the taker split; the model then estimates the long share from the candle itself.
    """

    open_time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    taker_buy_volume: np.ndarray
    interval_ms: int

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    def since(self, start_ms: int) -> Candles:
        """Candles whose open time is at or after `start_ms`."""
        first = int(np.searchsorted(self.open_time_ms, start_ms, side="left"))
        return self.slice(first, len(self))

    def slice(self, start: int, stop: int) -> Candles:
        return Candles(
            open_time_ms=self.open_time_ms[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
            taker_buy_volume=self.taker_buy_volume[start:stop],
            interval_ms=self.interval_ms,
        )
