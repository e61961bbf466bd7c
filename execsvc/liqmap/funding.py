"""Which side is crowded, read from the perpetual's funding rate (`side_split="funding"`).

Funding is what the crowded side pays to hold its position: a rate above the venue's interest
baseline means longs pay shorts, i.e. leveraged demand is long. The signal at time t is the
mean of the funding samples known in the `CROWDING_SPAN_MS` before t, minus
`FUNDING_BASELINE_PER_H`; the long share of the positions opened then is

    s = 0.5 + k * tanh(x / FUNDING_SCALE_PER_H),    0 <= k < 0.5,

and 0.5 where no sample is known. Rates are fractions of notional per hour (a venue that pays
every 8 h: its rate / 8). The constants and the hypothesis are in docs/evaluation.md
("Short side: pre-registered attempts", H1), fixed before the model was scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FUNDING_BASELINE_PER_H = 1.25e-5
"""The interest component of Hyperliquid's and Binance's funding (0.01 % per 8 h), which pins
the rate when the premium is small: no side is crowded at this rate."""
FUNDING_SCALE_PER_H = 1.8e-5
"""The pooled standard deviation of the 24-hour mean of `funding - baseline` over BTC, ETH,
SOL, HYPE and DOGE on Hyperliquid, 2025-03-08 to 2025-11-30 (before any evaluated day)."""
CROWDING_SPAN_MS = 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class FundingRates:
    """Funding samples, oldest first: `time_ms` (epoch ms, when the rate became known) and
    `rate_per_h` (fraction of notional per hour; positive: longs pay shorts)."""

    time_ms: np.ndarray
    rate_per_h: np.ndarray

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


def trailing_mean(funding: FundingRates, at_ms: np.ndarray,
                  span_ms: int = CROWDING_SPAN_MS) -> np.ndarray:
    """Mean rate of the samples with `at - span < time <= at`, for each `at`; NaN where none."""
    at_ms = np.asarray(at_ms, dtype=np.int64)
    if len(funding) == 0:
        return np.full(at_ms.shape, np.nan)
    sums = np.concatenate(([0.0], np.cumsum(funding.rate_per_h, dtype=np.float64)))
    stop = np.searchsorted(funding.time_ms, at_ms, side="right")
    start = np.searchsorted(funding.time_ms, at_ms - span_ms, side="right")
    count = stop - start
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (sums[stop] - sums[start]) / count, np.nan)


def crowded_long_share(mean_rate_per_h: np.ndarray, crowding: float) -> np.ndarray:
    """`0.5 + crowding * tanh((rate - baseline) / scale)`, 0.5 where the rate is NaN."""
    if not 0.0 <= crowding < 0.5:
        raise ValueError(f"funding crowding must be in [0, 0.5), got {crowding}")
    signal = np.nan_to_num(np.asarray(mean_rate_per_h, dtype=np.float64)
                           - FUNDING_BASELINE_PER_H, nan=0.0)
    return 0.5 + crowding * np.tanh(signal / FUNDING_SCALE_PER_H)


def long_share_at(funding: FundingRates | None, at_ms: np.ndarray,
                  crowding: float) -> np.ndarray:
    """The long share of positions opened at each `at_ms` (0.5 everywhere without funding)."""
    at_ms = np.asarray(at_ms, dtype=np.int64)
    if funding is None:
        return np.full(at_ms.shape, 0.5)
    return crowded_long_share(trailing_mean(funding, at_ms), crowding)
