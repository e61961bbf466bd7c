"""`execsvc backtest`: does the cluster-aware advice help, on recorded data?

**Entries.** Every `step_h` hours through each market (00:00, 06:00, ... UTC by default),
from the first time its map window is full of data to a full horizon before the end; at
each one, a long and a short. The map is the worker's own (`maps.venue_build.build_documents` on
the snapshot the worker would have fetched: data strictly before the entry), the entry price
its price (the last close). Cascade overshoots need an order book of that time, which the
recordings do not have: the stop adds none (overshoot 0).

**Stops at the same loss budget.** Three rules, each position sized to lose 1 R at its own stop
(`outcomes`): the cluster-aware stop (`/suggest/stop`'s standard stop), `k` x ATR and a fixed
percent, with `k` and the percent the mean distance (in ATRs, in percent) of the cluster-aware
stops on the training part: the baselines are as wide as the advice on average and differ only
in how they spread that width over the entries (the mean, not the median: cluster-aware
distances are skewed, and a rule that is merely wider more often is stopped less). Reported:
mean distance, stop-out rate within the horizon, wick stop-outs (stopped, then the price came
back through the entry within the horizon), mean and 5 % tail PnL in R; and the differences
cluster-aware minus ATR with 95 % intervals from a bootstrap over entry days (positions of one
day share their path, so days, not positions, are resampled).

**Take-profit.** With the cluster-aware stop, a target at the nearest take-profit zone
(`/suggest/take-profit`) against fixed R-multiple targets (1 R, 2 R, and the median zone
distance in R on the training part); bracket outcomes (`outcomes.bracket`).

**Tuning, out of sample.** The one tuned part of the advice is the rule of clusters that
matter (`min_intensity`, `reach_atr`), chosen on the training part (the first half of the
evaluation set's entries, all five coins) as the pair whose stop-out rate is lowest against
its ATR baseline; everything is reported on the second half and on the FTX month, which the
choice never saw. The FTX month has no training part of its own and its clusters sit farther
out: its baselines are matched to the advice's mean width on that month (only the baselines'
width; the advice is the one chosen on the evaluation set).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from execsvc.backtest.markets import BacktestMarket, evaluation_markets, ftx_market
from execsvc.backtest.outcomes import bracket
from execsvc.domain.units import MarketPrecision, iso_utc
from execsvc.execution.stops import StopParams, suggest_stop
from execsvc.execution.take_profit import take_profit_zones
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.clusters import Cluster
from execsvc.liqmap.model import MapParams
from execsvc.maps.cache import parse_map
from execsvc.maps.refresh import snapshot_lookback_s
from execsvc.maps.venue_build import build_documents

HOUR_MS = 3_600_000
WINDOW = "7d"
WINDOW_S = 7 * 86_400
SIDES = ("long", "short")
INTENSITIES = (0.25, 0.5, 0.75)
REACHES_ATR = (4.0, 8.0, 16.0)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry time of one market: the map's price, ATR, clusters and band width, the grid,
    and the candles of the horizon after it."""

    market: str
    time_ms: int
    price: float
    atr: float
    band_width: float
    clusters: list[Cluster]
    precision: MarketPrecision
    path: Candles


def entries(market: BacktestMarket, params: MapParams, step_h: int, horizon_h: int
            ) -> list[Entry]:
    """The market's entries (module docstring), maps built through `maps.refresh`."""
    windows = {WINDOW: WINDOW_S}
    lookback = snapshot_lookback_s(windows, params)
    step, horizon = step_h * HOUR_MS, horizon_h * HOUR_MS
    start = math.ceil((market.first_open_ms + WINDOW_S * 1000) / step) * step
    end = int(market.candles.open_time_ms[-1]) + market.candles.interval_ms - horizon
    found = []
    for now in range(start, end + 1, step):
        snapshot = market.snapshot(now, lookback)
        document = build_documents(snapshot, windows, params)[0]
        view = parse_map(0, now, document)
        path = market.path(now, horizon)
        if len(path) * market.candles.interval_ms < horizon or view.atr_quote <= 0.0:
            continue
        found.append(Entry(market.name, now, view.price, view.atr_quote, view.band_width_quote,
                           view.clusters, market.precision, path))
    return found


# ---- rules ----------------------------------------------------------------------------------

StopRule = Callable[[Entry, str], float]


def cluster_rule(params: StopParams) -> StopRule:
    def stop(entry: Entry, side: str) -> float:
        advice = suggest_stop(side, entry.price, entry.clusters, entry.atr, lambda _: 0.0,
                              params, precision=entry.precision)
        return advice.cluster_aware_stop_price
    return stop


def atr_rule(k: float) -> StopRule:
    def stop(entry: Entry, side: str) -> float:
        sign = 1.0 if side == "long" else -1.0
        return entry.precision.price_away(entry.price - sign * k * entry.atr, entry.price)
    return stop


def percent_rule(pct: float) -> StopRule:
    def stop(entry: Entry, side: str) -> float:
        sign = 1.0 if side == "long" else -1.0
        return entry.precision.price_away(entry.price * (1 - sign * pct / 100.0), entry.price)
    return stop


@dataclass(frozen=True, slots=True)
class StopStats:
    rule: str
    positions: int
    distance_pct: float
    stop_rate: float
    wick_rate: float
    mean_r: float
    tail5_r: float


@dataclass(frozen=True, slots=True)
class StopRun:
    """Per position (entries x sides, in order): stopped, wick, PnL in R, the entry's day."""

    stats: StopStats
    stopped: np.ndarray
    wick: np.ndarray
    pnl_r: np.ndarray
    day: np.ndarray


def run_stops(name: str, rule: StopRule, found: Sequence[Entry]) -> StopRun:
    outcomes, distances, days = [], [], []
    for entry in found:
        for side in SIDES:
            stop = rule(entry, side)
            outcomes.append(bracket(side, entry.price, stop, entry.path))
            distances.append(abs(entry.price - stop) / entry.price * 100.0)
            days.append(entry.time_ms // 86_400_000)
    pnl = np.array([o.pnl_r for o in outcomes])
    stopped = np.array([o.stopped for o in outcomes], dtype=np.float64)
    wick = np.array([o.wick for o in outcomes], dtype=np.float64)
    stats = StopStats(name, len(outcomes), float(np.mean(distances)), float(stopped.mean()),
                      float(wick.mean()), float(pnl.mean()), float(np.percentile(pnl, 5)))
    return StopRun(stats, stopped, wick, pnl, np.array(days))


@dataclass(frozen=True, slots=True)
class Difference:
    """A rule minus another, position by position, with a 95 % interval."""

    metric: str
    value: float
    low: float
    high: float


def differences(a: StopRun, b: StopRun, resamples: int = 2000,
                seed: int = 0) -> list[Difference]:
    """Stopped, wick and mean R of `a` minus `b`, bootstrapped over entry days."""
    days, index = np.unique(a.day, return_inverse=True)
    rng = np.random.default_rng(seed)
    found = []
    for metric in ("stopped", "wick", "pnl_r"):
        delta = getattr(a, metric) - getattr(b, metric)
        per_day = np.bincount(index, weights=delta, minlength=len(days))
        counts = np.bincount(index, minlength=len(days))
        draws = rng.integers(0, len(days), size=(resamples, len(days)))
        means = per_day[draws].sum(axis=1) / counts[draws].sum(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        found.append(Difference(metric, float(delta.mean()), float(low), float(high)))
    return found


def matched_baselines(rule: StopRule, found: Sequence[Entry]) -> tuple[float, float]:
    """(k in ATRs, percent): the mean distance of `rule`'s stops on `found`."""
    in_atr, in_pct = [], []
    for entry in found:
        for side in SIDES:
            distance = abs(entry.price - rule(entry, side))
            in_atr.append(distance / entry.atr)
            in_pct.append(distance / entry.price * 100.0)
    return float(np.mean(in_atr)), float(np.mean(in_pct))


# ---- take-profit ----------------------------------------------------------------------------

TargetRule = Callable[[Entry, str, float], float | None]


def zone_target(entry: Entry, side: str, stop: float) -> float | None:
    zones = take_profit_zones(side, entry.price, entry.clusters, entry.atr, entry.band_width,
                              precision=entry.precision)
    return zones[0].target_price if zones else None


def r_target(multiple: float) -> TargetRule:
    def target(entry: Entry, side: str, stop: float) -> float | None:
        sign = 1.0 if side == "long" else -1.0
        return entry.precision.price_toward(
            entry.price + sign * multiple * abs(entry.price - stop), entry.price)
    return target


@dataclass(frozen=True, slots=True)
class TargetStats:
    target: str
    positions: int
    distance_r: float
    fill_rate: float
    mean_r: float


def run_targets(name: str, target: TargetRule, stop_rule: StopRule,
                found: Sequence[tuple[Entry, str]]) -> TargetStats:
    outcomes, distances = [], []
    for entry, side in found:
        stop = stop_rule(entry, side)
        price = target(entry, side, stop)
        if price is None:
            continue
        outcomes.append(bracket(side, entry.price, stop, entry.path, price))
        distances.append(abs(price - entry.price) / abs(entry.price - stop))
    return TargetStats(name, len(outcomes), float(np.mean(distances)),
                       float(np.mean([o.target_hit for o in outcomes])),
                       float(np.mean([o.pnl_r for o in outcomes])))


# ---- the whole run --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tuning:
    min_intensity: float
    reach_atr: float
    atr_k: float
    percent: float
    train_gap: float
    """Stop-out rate of the cluster-aware stop minus its ATR baseline's, on the training part."""


@dataclass(frozen=True, slots=True)
class Part:
    label: str
    entries: int
    stops: list[StopStats]
    versus_atr: list[Difference]
    targets: list[TargetStats]


@dataclass(frozen=True, slots=True)
class Backtest:
    horizon_h: int
    step_h: int
    train_label: str
    grid: list[Tuning]
    chosen: Tuning
    parts: list[Part]


def _span(found: Sequence[Entry]) -> str:
    times = [e.time_ms for e in found]
    return f"{iso_utc(min(times))[:10]}..{iso_utc(max(times))[:10]}"


def tune(train: Sequence[Entry], base: StopParams) -> list[Tuning]:
    """Every pair of the grid with its matched baselines and training gap."""
    results = []
    for intensity in INTENSITIES:
        for reach in REACHES_ATR:
            rule = cluster_rule(replace(base, min_intensity=intensity, reach_atr=reach))
            k, pct = matched_baselines(rule, train)
            gap = (run_stops("cluster", rule, train).stats.stop_rate
                   - run_stops("atr", atr_rule(k), train).stats.stop_rate)
            results.append(Tuning(intensity, reach, k, pct, gap))
    return results


def evaluate_part(label: str, found: Sequence[Entry], chosen: Tuning, base: StopParams,
                  zone_r: float, match_here: bool = False) -> Part:
    """The chosen rule against its baselines on `found`; with `match_here` the baselines'
    widths are matched to the advice on `found` itself (a part without a training half: only
    the baselines change, the advice stays as chosen)."""
    rule = cluster_rule(replace(base, min_intensity=chosen.min_intensity,
                                reach_atr=chosen.reach_atr))
    k, pct = matched_baselines(rule, found) if match_here else (chosen.atr_k, chosen.percent)
    runs = [run_stops("cluster-aware", rule, found),
            run_stops(f"{k:.2f} x ATR", atr_rule(k), found),
            run_stops(f"fixed {pct:.2f} %", percent_rule(pct), found)]
    with_zone = [(e, s) for e in found for s in SIDES
                 if zone_target(e, s, rule(e, s)) is not None]
    targets = [run_targets("nearest zone", zone_target, rule, with_zone)]
    targets += [run_targets(f"{m:g} R", r_target(m), rule, with_zone)
                for m in sorted({1.0, 2.0, round(zone_r, 2)})]
    return Part(label, len(found), [r.stats for r in runs], differences(runs[0], runs[1]),
                targets)


def backtest(params: MapParams, stop_params: StopParams, *, step_h: int = 6,
             horizon_h: int = 24, with_ftx: bool = True) -> Backtest:
    """The run of the module docstring."""
    evaluation = [e for market in evaluation_markets()
                  for e in entries(market, params, step_h, horizon_h)]
    times = sorted({e.time_ms for e in evaluation})
    split = times[len(times) // 2]
    train = [e for e in evaluation if e.time_ms < split]
    test = [e for e in evaluation if e.time_ms >= split]
    grid = tune(train, stop_params)
    chosen = min(grid, key=lambda t: (t.train_gap, -t.min_intensity, t.reach_atr))
    rule = cluster_rule(replace(stop_params, min_intensity=chosen.min_intensity,
                                reach_atr=chosen.reach_atr))
    zone_r = float(np.median([
        abs(target - e.price) / abs(e.price - rule(e, s))
        for e in train for s in SIDES
        if (target := zone_target(e, s, rule(e, s))) is not None]))
    parts = [evaluate_part(f"test: evaluation set, second half ({_span(test)}, "
                           f"{', '.join(sorted({e.market for e in test}))})", test, chosen,
                           stop_params, zone_r)]
    if with_ftx:
        ftx = entries(ftx_market(), params, step_h, horizon_h)
        parts.append(evaluate_part(f"test: FTX BTC-PERP 1m ({_span(ftx)}; baseline widths "
                                   "matched on this month)", ftx, chosen, stop_params, zone_r,
                                   match_here=True))
    return Backtest(horizon_h, step_h, f"evaluation set, first half ({_span(train)})", grid,
                    chosen, parts)
