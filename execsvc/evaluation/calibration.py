"""Model variants, their free parameters fitted out of sample, and their scores.

A `Variant` fixes the model's structure (venue rules, switches of `MapParams`) and lists
candidate values for its free parameters (leverage mix, stock half-life, cross share, churn
rate). `fit_and_score` evaluates every candidate on every truth day once, then:

- **in-sample**: the candidate with the best objective on all days (what a default would be);
- **leave-one-week-out (LOWO)**: for each ISO week, the candidate best on the other weeks
  predicts that week; the held-out predictions of all weeks are pooled and scored;
- **leave-one-coin-out (LOCO)**: the same with coins as folds.

The objective is the mean of the within-coin Spearman correlations of long, short and total.
The churn term is linear in its rate (`liqmap.churn`), so every rate is read off one build.
Naive has no parameter; `shape` follows the map of the candidate chosen for each fold.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from execsvc.evaluation.inputs import CoinMarket, TruthDay
from execsvc.evaluation.predict import DayPrediction, predict_all
from execsvc.evaluation.scores import MODELS, SIDES, columns, spearman_table
from execsvc.liqmap.model import MapParams

V1_MIX = {10.0: 0.35, 25.0: 0.3, 50.0: 0.2, 100.0: 0.15}
MIX_LEVERAGES = (2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 40.0, 50.0, 75.0, 100.0)


def lognormal_mix(median: float, sigma: float) -> dict[float, float]:
    """Weights on `MIX_LEVERAGES` proportional to a log-normal density around `median`
    (log-width `sigma`), weights below 0.1 % dropped, normalised."""
    logs = np.log(np.array(MIX_LEVERAGES))
    density = np.exp(-((logs - np.log(median)) ** 2) / (2.0 * sigma**2))
    weights = density / density.sum()
    kept = {lev: float(w) for lev, w in zip(MIX_LEVERAGES, weights, strict=True) if w >= 1e-3}
    total = sum(kept.values())
    return {lev: round(w / total, 6) for lev, w in kept.items()}


MIX_CANDIDATES: dict[str, dict[float, float]] = {"v1": V1_MIX} | {
    f"lognormal({median:g}x,{sigma:g})": lognormal_mix(median, sigma)
    for median in (5.0, 10.0, 20.0, 40.0) for sigma in (0.5, 1.0)
}
CHURN_RATES = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Variant:
    """A model structure and the candidate values of its free parameters."""

    name: str
    description: str
    venue: str = "hyperliquid"
    fixed: dict[str, object] = field(default_factory=dict)
    mixes: tuple[str, ...] = ("v1",)
    stock_half_lives_h: tuple[float, ...] = (0.0,)
    cross_shares: tuple[float, ...] = (0.0,)
    churn: bool = False

    def candidates(self, base: MapParams) -> list[tuple[dict[str, object], MapParams]]:
        """(free values, params) for every combination of free-parameter values."""
        out = []
        for mix, half_life, cross in itertools.product(
                self.mixes, self.stock_half_lives_h, self.cross_shares):
            free = {"leverage_mix": mix, "stock_half_life_h": half_life, "cross_share": cross}
            params = dataclasses.replace(
                base, **self.fixed, leverage_mix=MIX_CANDIDATES[mix],
                stock_half_life_h=half_life, cross_share=cross,
                churn_rate_per_day=1.0 if self.churn else 0.0)
            out.append((free, params))
        return out


def _objective(table: np.ndarray) -> float:
    return float(np.nanmean(table[0]))


@dataclass
class _Candidate:
    free: dict[str, object]
    params: MapParams
    data: dict[str, np.ndarray]
    churn_long: np.ndarray
    churn_short: np.ndarray

    def at_rate(self, rate: float) -> dict[str, np.ndarray]:
        """Columns with the map's churn at `rate` per day (built at rate 1, or without)."""
        data = dict(self.data)
        data["map_long"] = self.data["bands_long"] + rate * self.churn_long
        data["map_short"] = self.data["bands_short"] + rate * self.churn_short
        data["map_total"] = data["map_long"] + data["map_short"]
        return data


def _evaluate_candidates(
    variant: Variant, base: MapParams, markets: dict[str, CoinMarket], truth: list[TruthDay],
    window: str, window_s: int,
) -> tuple[list[_Candidate], list[DayPrediction]]:
    candidates = []
    reference: list[DayPrediction] = []
    for free, params in variant.candidates(base):
        predictions, _ = predict_all(markets, truth, window, window_s, params, variant.venue)
        data = columns(predictions)
        churn_long = data["map_long"] - data["bands_long"]
        churn_short = data["map_short"] - data["bands_short"]
        candidates.append(_Candidate(free, params, data, churn_long, churn_short))
        reference = predictions
    return candidates, reference


def _choices(candidates: list[_Candidate], churn: bool):
    rates = CHURN_RATES if churn else (0.0,)
    for candidate in candidates:
        for rate in rates:
            yield candidate, rate


def _best(candidates: list[_Candidate], churn: bool, rows: np.ndarray):
    best, best_score = None, -np.inf
    for candidate, rate in _choices(candidates, churn):
        value = _objective(spearman_table(candidate.at_rate(rate), rows))
        if value > best_score:
            best, best_score = (candidate, rate), value
    return best


def _pooled(candidates, churn: bool, folds: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Scores of held-out predictions pooled over folds, and the choice made per fold."""
    template = candidates[0].data
    pooled = {key: np.array(value, copy=True) for key, value in template.items()}
    chosen = []
    for fold in np.unique(folds):
        held_out = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        candidate, rate = _best(candidates, churn, train)
        data = candidate.at_rate(rate)
        for key in pooled:
            pooled[key][held_out] = data[key][held_out]
        chosen.append({"fold": str(fold), **candidate.free, "churn_rate_per_day": rate})
    return spearman_table(pooled), chosen


def _table_dict(table: np.ndarray) -> dict[str, dict[str, float]]:
    return {m: {s: round(float(table[i, j]), 4) for j, s in enumerate(SIDES)}
            for i, m in enumerate(MODELS)}


def iso_week(ordinal: int) -> str:
    import datetime as dt

    year, week, _ = dt.date.fromordinal(int(ordinal)).isocalendar()
    return f"{year}-W{week:02d}"


def fit_and_score(
    variant: Variant, base: MapParams, markets: dict[str, CoinMarket], truth: list[TruthDay],
    window: str, window_s: int,
) -> dict[str, object]:
    """In-sample fit, LOWO and LOCO scores of one variant (see the module docstring)."""
    candidates, _ = _evaluate_candidates(variant, base, markets, truth, window, window_s)
    data = candidates[0].data
    all_rows = np.arange(len(data["coin"]))
    candidate, rate = _best(candidates, variant.churn, all_rows)
    weeks = np.array([iso_week(d) for d in data["day"]])
    lowo, lowo_choice = _pooled(candidates, variant.churn, weeks)
    loco, loco_choice = _pooled(candidates, variant.churn, data["coin"])
    fitted = dataclasses.replace(candidate.params, churn_rate_per_day=rate)
    return {
        "name": variant.name,
        "description": variant.description,
        "venue": variant.venue,
        "candidates": len(candidates) * (len(CHURN_RATES) if variant.churn else 1),
        "fitted_on_all_days": {**candidate.free, "churn_rate_per_day": rate},
        "in_sample": _table_dict(spearman_table(candidate.at_rate(rate))),
        "lowo": _table_dict(lowo),
        "lowo_choices": lowo_choice,
        "loco": _table_dict(loco),
        "loco_choices": loco_choice,
        "params": fitted,
    }


def variants() -> list[Variant]:
    """The variants tried, in the order they were added (each adds to the previous one),
    then ablations of the final structure. docs/evaluation.md reports all of them."""
    all_mixes = tuple(MIX_CANDIDATES)
    stock = (24.0, 72.0, 168.0)
    final = {"cap_leverage_to_venue": True, "oi_units": "base", "side_split": "even"}
    return [
        Variant("v1", "the v1 map: Binance USD-M rules (bundled BTCUSDT/ETHUSDT brackets, "
                "uncapped), quote-unit OI deltas, aggressor side split, v1 leverage mix",
                venue="binanceusdm"),
        Variant("hl-rules", "v1 with Hyperliquid's liquidation rule (mmr = 1/(2 max lev))"),
        Variant("cap", "+ leverage mix capped at the venue maximum",
                fixed={"cap_leverage_to_venue": True}),
        Variant("base-units", "+ OI differenced in base units",
                fixed={"cap_leverage_to_venue": True, "oi_units": "base"}),
        Variant("stock", "+ stock of positions open at the window start (half-life fitted)",
                fixed={"cap_leverage_to_venue": True, "oi_units": "base"},
                stock_half_lives_h=stock),
        Variant("even-split", "+ every new contract split evenly long/short",
                fixed=final, stock_half_lives_h=stock),
        Variant("cross", "+ a cross-margin share (fitted: 0, 25 %, 50 %; 2x initial margin)",
                fixed=final, stock_half_lives_h=stock, cross_shares=(0.0, 0.25, 0.5)),
        Variant("mix", "+ leverage mix calibrated (v1 or log-normal around 5-40x)",
                fixed=final, stock_half_lives_h=stock, cross_shares=(0.0, 0.25, 0.5),
                mixes=all_mixes),
        Variant("churn", "+ same-day churn (rate fitted)", fixed=final,
                stock_half_lives_h=stock, cross_shares=(0.0, 0.25, 0.5), mixes=all_mixes,
                churn=True),
        Variant("churn-no-stock", "ablation: churn model without the stock", fixed=final,
                cross_shares=(0.0, 0.25, 0.5), mixes=all_mixes, churn=True),
        Variant("churn-quote-units", "ablation: churn model with quote-unit OI deltas",
                fixed={"cap_leverage_to_venue": True, "side_split": "even"},
                stock_half_lives_h=stock, cross_shares=(0.0, 0.25, 0.5), mixes=all_mixes,
                churn=True),
        Variant("churn-aggressor", "ablation: churn model with the aggressor side split",
                fixed={"cap_leverage_to_venue": True, "oi_units": "base"},
                stock_half_lives_h=stock, cross_shares=(0.0, 0.25, 0.5), mixes=all_mixes,
                churn=True),
        Variant("churn-uncapped", "ablation: churn model without the venue cap",
                fixed={"oi_units": "base", "side_split": "even"},
                stock_half_lives_h=stock, cross_shares=(0.0, 0.25, 0.5), mixes=all_mixes,
                churn=True),
    ]


def run_variants(
    base: MapParams, markets: dict[str, CoinMarket], truth: list[TruthDay], window: str,
    window_s: int, selected: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """`fit_and_score` for every variant (or the `selected` names), in order."""
    chosen = [v for v in variants() if selected is None or v.name in selected]
    return [fit_and_score(v, base, markets, truth, window, window_s) for v in chosen]
