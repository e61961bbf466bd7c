"""What happened to a position after its entry, on the candles of the horizon (pure numpy).

Prices in quote per base; results in R, the loss at the stop (a position sized so that each rule
loses the same at its own stop: PnL in R = signed move / stop distance).

- **Stop**: the first candle whose low (long; high for a short) reaches the stop closes the
  position at the stop, or at the candle's open when it opened beyond it (a gap): -1 R or
  worse. Otherwise it is marked at the last close of the horizon.
- **Wick stop-out**: stopped, and a later candle of the horizon trades back through the entry
  (high >= entry for a long): the stop was taken by a move that reversed.
- **Bracket** (take-profit): stop and target together; the first candle reaching either
  decides, and a candle reaching both counts as stopped (candles do not say which came first,
  so the comparison is conservative for every target alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from execsvc.liqmap.candles import Candles


@dataclass(frozen=True, slots=True)
class Outcome:
    stopped: bool
    wick: bool
    target_hit: bool
    pnl_r: float


def _first(mask: np.ndarray) -> int:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else -1


def _stop_exit(sign: float, stop: float, open_price: float) -> float:
    return min(stop, open_price) if sign > 0 else max(stop, open_price)


def bracket(side: str, entry: float, stop: float, path: Candles,
            target: float | None = None) -> Outcome:
    """The position's outcome over `path` (module docstring); `target` None: stop only."""
    sign = 1.0 if side == "long" else -1.0
    risk = sign * (entry - stop)
    if risk <= 0.0 or len(path) == 0:
        raise ValueError("the stop must lie on the losing side of the entry, the path not empty")
    adverse = path.low if sign > 0 else path.high
    favourable = path.high if sign > 0 else path.low
    stop_at = _first(sign * (adverse - stop) <= 0.0)
    target_at = -1 if target is None else _first(sign * (favourable - target) >= 0.0)
    if stop_at >= 0 and (target_at < 0 or stop_at <= target_at):
        exit_price = _stop_exit(sign, stop, float(path.open[stop_at]))
        later = favourable[stop_at + 1:]
        wick = bool(later.size and np.any(sign * (later - entry) >= 0.0))
        return Outcome(True, wick, False, sign * (exit_price - entry) / risk)
    if target_at >= 0:
        return Outcome(False, False, True, sign * (target - entry) / risk)
    return Outcome(False, False, False, sign * (float(path.close[-1]) - entry) / risk)
