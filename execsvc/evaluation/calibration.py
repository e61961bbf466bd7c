"""Model variants, their free parameters fitted out of sample, and their scores.

A `Variant` fixes the model's structure (venue rules, switches of `MapParams`, how the churn is
read: by the day's range or along its candles) and lists candidate values for its free
parameters (leverage mix, stock half-life, cross share, funding crowding, churn rate).
`fit_and_score` evaluates every candidate on every truth day once, then:

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
import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from execsvc.evaluation.inputs import CoinMarket, TruthDay
from execsvc.evaluation.predict import ChurnReading, DayPrediction, predict_all
from execsvc.evaluation.scores import (
    MODELS,
    NEAR_ZERO_SHARE,
    SIDES,
    columns,
    spearman_table,
    without_near_zero,
)
from execsvc.liqmap.model import MapParams

DEFAULT_VARIANT = "churn"
"""The variant whose structure the default settings configure (docs/evaluation.md)."""
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
    crowdings: tuple[float, ...] = (0.0,)
    churn: bool = False
    churn_reading: ChurnReading = "range"

    def candidates(self, base: MapParams) -> list[tuple[dict[str, object], MapParams]]:
        """(free values, params) for every combination of free-parameter values; everything
        not fixed by the variant starts from v1 (only grid and size settings come from
        `base`)."""
        neutral = dataclasses.replace(
            base, cap_leverage_to_venue=False, side_split="aggressor", oi_units="quote",
            stock_half_life_h=0.0, cross_share=0.0, cross_margin_multiple=2.0,
            churn_rate_per_day=0.0, funding_crowding=0.0)
        out = []
        for mix, half_life, cross, crowding in itertools.product(
                self.mixes, self.stock_half_lives_h, self.cross_shares, self.crowdings):
            free = {"leverage_mix": mix, "stock_half_life_h": half_life, "cross_share": cross}
            if self.fixed.get("side_split") == "funding":
                free["funding_crowding"] = crowding
            params = dataclasses.replace(
                neutral, **self.fixed, leverage_mix=MIX_CANDIDATES[mix],
                stock_half_life_h=half_life, cross_share=cross, funding_crowding=crowding,
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
        predictions, _ = predict_all(markets, truth, window, window_s, params, variant.venue,
                                     variant.churn_reading)
        data = columns(predictions)
        churn_long = data["map_long"] - data["bands_long"]
        churn_short = data["map_short"] - data["bands_short"]
        candidates.append(_Candidate(free, params, data, churn_long, churn_short))
        reference = predictions
    return candidates, reference


def _choices(candidates, churn: bool):
    for entry in candidates:
        candidate, own_churn = (entry if isinstance(entry, tuple) else (entry, None))
        with_churn = own_churn.churn if own_churn is not None else churn
        for rate in (CHURN_RATES if with_churn else (0.0,)):
            yield candidate, rate


def _best(candidates, churn: bool, rows: np.ndarray):
    """The (candidate, churn rate) with the best objective on `rows`; `candidates` may be a
    list of `_Candidate` or of (`_Candidate`, `Variant`) pairs (then each pair's own churn
    switch applies)."""
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
    return pooled, chosen


def _procedure(pool, churn: bool, unit: str) -> dict[str, object]:
    data = pool[0][0].data
    folds = (np.array([iso_week(d) for d in data["day"]]) if unit == "week" else data["coin"])
    template = {key: np.array(value, copy=True) for key, value in data.items()}
    chosen = []
    for fold in np.unique(folds):
        held_out, train = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
        candidate, rate = _best(pool, churn, train)
        fitted = candidate.at_rate(rate)
        for key in template:
            template[key][held_out] = fitted[key][held_out]
        variant = next(v.name for c, v in pool if c is candidate)
        chosen.append({"fold": str(fold), "variant": variant, **candidate.free,
                       "churn_rate_per_day": rate})
    return {"scores": _table_dict(spearman_table(template)), "choices": chosen}


def _table_dict(table: np.ndarray) -> dict[str, dict[str, float]]:
    return {m: {s: round(float(table[i, j]), 4) for j, s in enumerate(SIDES)}
            for i, m in enumerate(MODELS)}


def iso_week(ordinal: int) -> str:
    year, week, _ = dt.date.fromordinal(int(ordinal)).isocalendar()
    return f"{year}-W{week:02d}"


def fit_and_score(
    variant: Variant, base: MapParams, markets: dict[str, CoinMarket], truth: list[TruthDay],
    window: str, window_s: int,
) -> dict[str, object]:
    """In-sample fit, LOWO and LOCO scores of one variant (see the module docstring)."""
    candidates, _ = _evaluate_candidates(variant, base, markets, truth, window, window_s)
    return _fit_and_score(variant, candidates)


def _fit_and_score(variant: Variant, candidates: list[_Candidate]) -> dict[str, object]:
    data = candidates[0].data
    all_rows = np.arange(len(data["coin"]))
    candidate, rate = _best(candidates, variant.churn, all_rows)
    weeks = np.array([iso_week(d) for d in data["day"]])
    lowo_data, lowo_choice = _pooled(candidates, variant.churn, weeks)
    loco_data, loco_choice = _pooled(candidates, variant.churn, data["coin"])
    lowo, loco = spearman_table(lowo_data), spearman_table(loco_data)
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
        "lowo_columns": lowo_data,
        "loco_columns": loco_data,
    }


def variants() -> list[Variant]:
    """The variants tried, in the order they were tried; docs/evaluation.md reports all."""
    mixes = tuple(MIX_CANDIDATES)
    stock = (24.0, 72.0, 168.0)
    cross = (0.0, 0.25, 0.5)
    capped = {"cap_leverage_to_venue": True}
    v2 = {"cap_leverage_to_venue": True, "side_split": "even"}
    funding = v2 | {"side_split": "funding"}
    crowdings = (0.0, 0.1, 0.2, 0.3, 0.4)
    return [
        Variant("v1", "the v1 map: Binance USD-M rules (bundled BTCUSDT/ETHUSDT brackets, "
                "no cap), quote-unit OI deltas, aggressor side split, v1 leverage mix",
                venue="binanceusdm"),
        Variant("hl-rules", "v1 priced with Hyperliquid's rule (mmr = 1/(2 max lev)), no cap"),
        Variant("cap", "+ leverage mix capped at the venue maximum", fixed=capped),
        Variant("base-units", "cap + OI differenced in base units",
                fixed=capped | {"oi_units": "base"}),
        Variant("stock", "cap + base units + stock at the window start (half-life fitted)",
                fixed=capped | {"oi_units": "base"}, stock_half_lives_h=stock),
        Variant("even-split", "cap + every new contract split evenly long/short", fixed=v2),
        Variant("cross", "cap + even split + cross-margin share fitted (0/25/50 %)", fixed=v2,
                cross_shares=cross),
        Variant("mix", "cap + even split + leverage mix fitted (v1 or 8 log-normal mixes)",
                fixed=v2, mixes=mixes),
        Variant("churn", "cap + even split + same-day churn (rate fitted)", fixed=v2,
                churn=True),
        Variant("churn+base-units", "churn model with base-unit OI deltas",
                fixed=v2 | {"oi_units": "base"}, churn=True),
        Variant("churn+stock", "churn model with the stock (half-life fitted)",
                fixed=v2, stock_half_lives_h=stock, churn=True),
        Variant("churn+cross", "churn model with a cross share (fitted)", fixed=v2,
                cross_shares=cross, churn=True),
        Variant("churn+mix", "churn model with the leverage mix fitted", fixed=v2,
                mixes=mixes, churn=True),
        Variant("churn-uncapped", "churn model without the venue cap",
                fixed={"side_split": "even"}, churn=True),
        Variant("churn-aggressor", "churn model with the aggressor side split",
                fixed=capped, churn=True),
        Variant("everything", "cap + even split + base units + stock + cross + mix + churn, "
                "all fitted together", fixed=v2 | {"oi_units": "base"},
                stock_half_lives_h=stock, cross_shares=cross, mixes=mixes, churn=True),
        # pre-registered in docs/evaluation.md ("Short side: pre-registered attempts")
        Variant("funding-split", "churn model, long share of new positions and churn from the "
                "funding known then (H1; crowding fitted)", fixed=funding, crowdings=crowdings,
                churn=True),
        Variant("churn-path", "churn model, churn read along the day's hourly candles (H2)",
                fixed=v2, churn=True, churn_reading="path"),
        Variant("funding-split+churn-path", "H1 and H2 together", fixed=funding,
                crowdings=crowdings, churn=True, churn_reading="path"),
    ]


def selection_procedure(candidates_by_variant) -> dict:
    """LOWO and LOCO of the whole procedure: in each fold, the variant *and* its parameters
    are chosen on the training folds only, so choosing among variants is validated too."""
    pool = [(c, variant) for variant, cands in candidates_by_variant for c in cands]
    churned = any(v.churn for _, v in pool)
    return {"lowo": _procedure(pool, churned, "week"), "loco": _procedure(pool, churned, "coin")}


def run_variants(
    base: MapParams, markets: dict[str, CoinMarket], truth: list[TruthDay], window: str,
    window_s: int, selected: Sequence[str] | None = None,
) -> list[dict[str, object]]:
    """`fit_and_score` for every variant (or the `selected` names), in order."""
    chosen = [v for v in variants() if selected is None or v.name in selected]
    return [fit_and_score(v, base, markets, truth, window, window_s) for v in chosen]


def sensitivity(results: list[dict[str, object]], truth: list[TruthDay]) -> dict[str, object]:
    """LOWO scores of every variant's held-out predictions on the rows that pass
    `scores.without_near_zero` (a robustness check; the fits used all rows)."""
    data = results[0]["lowo_columns"]
    kept = without_near_zero(data, truth)
    dropped = [{"date": dt.date.fromordinal(int(d)).isoformat(), "coin": str(c)}
               for d, c, k in zip(data["day"], data["coin"], kept, strict=True) if not k]
    rows = np.flatnonzero(kept)
    return {"rule": f"liq_count below {NEAR_ZERO_SHARE:.0%} of the coin's median in the "
                    "truth file", "rows_kept": len(rows), "dropped": dropped,
            "lowo": {r["name"]: _table_dict(spearman_table(r["lowo_columns"], rows))
                     for r in results}}


def run_study(
    base: MapParams, markets: dict[str, CoinMarket], truth: list[TruthDay], window: str,
    window_s: int,
) -> dict[str, object]:
    """Every variant (`fit_and_score`), the validated selection among them, the selection
    between the default and each variant alone, and the sensitivity check."""
    results, candidates_by_variant = [], []
    for variant in variants():
        candidates, _ = _evaluate_candidates(variant, base, markets, truth, window, window_s)
        results.append(_fit_and_score(variant, candidates))
        candidates_by_variant.append((variant, candidates))
    default = next(pair for pair in candidates_by_variant if pair[0].name == DEFAULT_VARIANT)
    return {"variants": results,
            "selection_procedure": selection_procedure(candidates_by_variant),
            "selection_against_default": {
                variant.name: selection_procedure([default, (variant, candidates)])
                for variant, candidates in candidates_by_variant
                if variant.name != DEFAULT_VARIANT},
            "sensitivity": sensitivity(results, truth)}
