"""Scores of predicted against realised liquidations: pure numpy, no I/O.

Every score compares days *within a coin*: coins differ by orders of magnitude in open
interest and liquidations, so pooling raw values would only measure coin size.

- `within_group_percentiles`: average ranks inside each group (ties share their mean rank),
  as percentiles `(rank - 0.5) / n` in (0, 1); every group then has mean 0.5.
- `spearman_within`: Pearson correlation of those percentiles, pooled over groups (the
  within-coin Spearman). With one group it is the ordinary Spearman correlation.
- `log_pearson_within`: Pearson correlation of `log1p(value)` after subtracting each group's
  mean, pooled.
- `partial_correlation`: correlation of x and y with z partialled out,
  `(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2))`.
- `side_match`: share of days where the larger predicted side is the larger realised side.
- `attraction_test`: share of days whose move reaches a given distance, against the same
  distances reassigned at random among the days of each group (permutation p-value).
"""

from __future__ import annotations

import numpy as np


def within_group_percentiles(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Percentile `(average rank - 0.5) / n` of each value among the values of its group."""
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    same = groups[:, None] == groups[None, :]
    less = (same & (values[None, :] < values[:, None])).sum(axis=1)
    equal = (same & (values[None, :] == values[:, None])).sum(axis=1)
    size = same.sum(axis=1)
    rank = less + (equal + 1) / 2.0
    return (rank - 0.5) / size


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant or there are < 2 points."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    if denominator <= 0.0:
        return float("nan")
    return float((dx * dy).sum() / denominator)


def spearman_within(predicted: np.ndarray, realised: np.ndarray, groups: np.ndarray) -> float:
    """Within-group Spearman: Pearson of within-group percentiles, pooled."""
    return pearson(within_group_percentiles(predicted, groups),
                   within_group_percentiles(realised, groups))


def _demeaned_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    _, where = np.unique(groups, return_inverse=True)
    sums = np.bincount(where, weights=values)
    counts = np.bincount(where)
    return values - (sums / counts)[where]


def log_pearson_within(predicted: np.ndarray, realised: np.ndarray, groups: np.ndarray) -> float:
    """Pearson of `log1p` values, each group's mean removed, pooled. Values must be >= 0."""
    groups = np.asarray(groups)
    x = _demeaned_within(np.log1p(np.maximum(np.asarray(predicted, float), 0.0)), groups)
    y = _demeaned_within(np.log1p(np.maximum(np.asarray(realised, float), 0.0)), groups)
    return pearson(x, y)


def partial_correlation(r_xy: float, r_xz: float, r_yz: float) -> float:
    """Correlation of x and y given z, from the three pairwise correlations."""
    denominator = np.sqrt((1.0 - r_xz**2) * (1.0 - r_yz**2))
    if not np.isfinite(denominator) or denominator <= 0.0:
        return float("nan")
    return float((r_xy - r_xz * r_yz) / denominator)


def partial_spearman_within(
    predicted: np.ndarray, realised: np.ndarray, control: np.ndarray, groups: np.ndarray
) -> float:
    """Within-group rank correlation of `predicted` and `realised` given `control`."""
    p = within_group_percentiles(predicted, groups)
    r = within_group_percentiles(realised, groups)
    c = within_group_percentiles(control, groups)
    return partial_correlation(pearson(p, r), pearson(p, c), pearson(r, c))


def side_match(pred_long: np.ndarray, pred_short: np.ndarray, real_long: np.ndarray,
               real_short: np.ndarray) -> float:
    """Share of days where `pred_long > pred_short` agrees with `real_long > real_short`."""
    predicted = np.asarray(pred_long) > np.asarray(pred_short)
    realised = np.asarray(real_long) > np.asarray(real_short)
    return float(np.mean(predicted == realised)) if len(predicted) else float("nan")


def attraction_test(
    move: np.ndarray, distance: np.ndarray, groups: np.ndarray, permutations: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Does a day's move (relative, >= 0) reach the distance (relative) of its cluster more
    often than it reaches the distances of other days' clusters of the same group?

    `hit_rate`: share of days with `move >= distance`; `random_hit_rate`: mean share over
    `permutations` reassignments of the distances among each group's days; `p_value`:
    `(1 + #{permuted >= observed}) / (1 + permutations)`. Days with a NaN distance (no cluster)
    are left out.
    """
    keep = np.isfinite(distance) & np.isfinite(move)
    move, distance, groups = move[keep], distance[keep], np.asarray(groups)[keep]
    if len(move) == 0:
        return {"days": 0, "hit_rate": float("nan"), "random_hit_rate": float("nan"),
                "p_value": float("nan")}
    observed = float(np.mean(move >= distance))
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    shuffled = np.empty((permutations, len(move)))
    for index in members:
        keys = rng.random((permutations, len(index)))
        shuffled[:, index] = distance[index][np.argsort(keys, axis=1)]
    rates = (move[None, :] >= shuffled).mean(axis=1)
    return {
        "days": len(move),
        "hit_rate": observed,
        "random_hit_rate": float(rates.mean()),
        "p_value": float((1 + np.sum(rates >= observed)) / (1 + permutations)),
    }


def bootstrap_by_day(
    days: np.ndarray, statistic, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """`statistic(rows)` over `resamples` resamples of whole calendar days (every row of a
    drawn day comes along; a day drawn twice comes twice). Returns an array (resamples, k) of
    the statistic's k values; rows are integer indices into the caller's arrays."""
    unique, where = np.unique(days, return_inverse=True)
    rows_of_day = [np.flatnonzero(where == k) for k in range(len(unique))]
    out = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(unique), len(unique))
        rows = np.concatenate([rows_of_day[k] for k in drawn])
        out.append(statistic(rows))
    return np.asarray(out, dtype=np.float64)
