"""All scores of one set of day predictions (`predict.DayPrediction`), as a JSON-ready dict.

Models: `map` (the map's cumulative curves plus its same-day churn), `naive` (OI x relative
move), `shape` (the map's side totals spread evenly), `bands` (the map's cumulative curves
alone, without churn). Sides: `long`, `short`, `total` (long + short). Intervals are
95 % percentile intervals over `resamples` bootstrap resamples of calendar days, with a fixed
seed so a run reproduces exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from execsvc.evaluation import metrics
from execsvc.evaluation.inputs import TruthDay
from execsvc.evaluation.predict import DayPrediction

MODELS = ("map", "naive", "shape", "bands")
SIDES = ("long", "short", "total")
SEED = 20251215


def columns(predictions: Sequence[DayPrediction]) -> dict[str, np.ndarray]:
    """Arrays per field: `<model>_<side>` and `real_<side>` for every side, plus `coin`,
    `day` (ordinal), `price`, `high`, `low`, the cluster distances and the truth's `liq_count`."""
    def array(name: str) -> np.ndarray:
        return np.array([getattr(p, name) for p in predictions], dtype=np.float64)

    out = {
        "coin": np.array([p.coin for p in predictions]),
        "day": np.array([p.date.toordinal() for p in predictions]),
    }
    for model, prefix in (("map", "predicted"), ("naive", "naive"), ("shape", "shape"),
                          ("bands", "bands"), ("real", "realized")):
        out[f"{model}_long"] = array(f"{prefix}_long")
        out[f"{model}_short"] = array(f"{prefix}_short")
        out[f"{model}_total"] = out[f"{model}_long"] + out[f"{model}_short"]
    for name in ("price", "high", "low", "long_cluster_distance", "short_cluster_distance",
                 "liq_count"):
        out[name] = array(name)
    return out


NEAR_ZERO_SHARE = 0.05
"""Sensitivity rule (fixed before scoring, docs/evaluation.md): a truth row whose `liq_count` is
below this share of its coin's median `liq_count` looks like a gap in the source."""


def without_near_zero(data: dict[str, np.ndarray], truth: Sequence[TruthDay]) -> np.ndarray:
    """Mask of the rows of `data` kept by the sensitivity rule; the median is over all of the
    coin's rows in `truth`, evaluable or not."""
    medians = {coin: float(np.median([t.liq_count for t in truth if t.coin == coin]))
               for coin in set(data["coin"].tolist())}
    limit = np.array([NEAR_ZERO_SHARE * medians[c] for c in data["coin"]])
    return ~(data["liq_count"] < limit)


def spearman_table(data: dict[str, np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
    """Within-coin Spearman, shape (models, sides), on `rows` (all rows when None)."""
    rows = np.arange(len(data["coin"])) if rows is None else rows
    coin = data["coin"][rows]
    return np.array([
        [metrics.spearman_within(data[f"{m}_{s}"][rows], data[f"real_{s}"][rows], coin)
         for s in SIDES]
        for m in MODELS
    ])


def _interval(samples: np.ndarray) -> list[float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return [float("nan"), float("nan")]
    return [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))]


def _per_coin(data: dict[str, np.ndarray]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for coin in sorted(set(data["coin"].tolist())):
        rows = np.flatnonzero(data["coin"] == coin)
        table = spearman_table(data, rows)
        out[coin] = {"days": len(rows)} | {
            m: {s: float(table[i, j]) for j, s in enumerate(SIDES)} for i, m in enumerate(MODELS)
        }
    return out


def _attraction(data: dict[str, np.ndarray], permutations: int,
                rng: np.random.Generator) -> dict[str, dict[str, float]]:
    price = data["price"]
    moves = {"long": (price - data["low"]) / price, "short": (data["high"] - price) / price}
    out = {}
    for side, move in moves.items():
        out[side] = metrics.attraction_test(
            np.maximum(move, 0.0), data[f"{side}_cluster_distance"], data["coin"],
            permutations, rng)
    return out


def score(
    predictions: Sequence[DayPrediction], resamples: int = 2000, permutations: int = 2000,
) -> dict[str, object]:
    """Every metric of the issue on these predictions (see the module docstring)."""
    return score_columns(columns(predictions), resamples, permutations)


def score_columns(
    data: dict[str, np.ndarray], resamples: int = 2000, permutations: int = 2000,
) -> dict[str, object]:
    """`score` on columns (`columns`), e.g. held-out predictions pooled over folds."""
    rng = np.random.default_rng(SEED)
    point = spearman_table(data)
    boot = metrics.bootstrap_by_day(data["day"], lambda r: spearman_table(data, r).ravel(),
                                    resamples, rng).reshape(resamples, len(MODELS), len(SIDES))
    coin = data["coin"]
    result: dict[str, object] = {
        "days": len(coin),
        "coins": {c: int((coin == c).sum()) for c in sorted(set(coin.tolist()))},
        "spearman_within_coin": {},
        "log_pearson_within_coin": {},
        "side_match": {},
        "map_minus_naive": {},
        "map_minus_shape": {},
        "partial_spearman_map_given_naive": {},
    }
    for i, model in enumerate(MODELS):
        result["spearman_within_coin"][model] = {
            s: {"value": float(point[i, j]), "ci95": _interval(boot[:, i, j])}
            for j, s in enumerate(SIDES)
        }
        result["log_pearson_within_coin"][model] = {
            s: metrics.log_pearson_within(data[f"{model}_{s}"], data[f"real_{s}"], coin)
            for s in SIDES
        }
        result["side_match"][model] = metrics.side_match(
            data[f"{model}_long"], data[f"{model}_short"], data["real_long"], data["real_short"])
    for j, s in enumerate(SIDES):
        for other, key in ((1, "map_minus_naive"), (2, "map_minus_shape")):
            diff = boot[:, 0, j] - boot[:, other, j]
            result[key][s] = {"value": float(point[0, j] - point[other, j]),
                              "ci95": _interval(diff),
                              "share_of_resamples_above_0": float(np.mean(diff > 0))}
        result["partial_spearman_map_given_naive"][s] = metrics.partial_spearman_within(
            data[f"map_{s}"], data[f"real_{s}"], data[f"naive_{s}"], coin)
    result["per_coin_spearman"] = _per_coin(data)
    result["cluster_attraction"] = _attraction(data, permutations, rng)
    result["bootstrap"] = {"resamples": resamples, "unit": "calendar day", "seed": SEED}
    return result
