"""Scores of the evaluation: known values and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.evaluation import metrics

values = st.lists(st.integers(-10**6, 10**6).map(float), min_size=3, max_size=30, unique=True)


def plain_spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Reference: Pearson of ordinal ranks (distinct values)."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


@given(values, st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_one_group_is_the_ordinary_spearman(xs: list[float], rnd) -> None:
    x = np.array(xs)
    y = np.array(rnd.sample(xs, len(xs)))
    ones = np.zeros(len(x), dtype=int)
    assert metrics.spearman_within(x, y, ones) == pytest.approx(plain_spearman(x, y), abs=1e-12)


@given(values, values, st.sampled_from([0.5, 2.0, 10.0]), st.sampled_from([-3.0, 0.0, 7.0]))
@settings(max_examples=60, deadline=None)
def test_within_group_scores_ignore_each_groups_scale(xs, ys, scale, shift) -> None:
    n = min(len(xs), len(ys))
    x, y = np.array(xs[:n]), np.array(ys[:n])
    groups = np.arange(n) % 2
    scaled = np.where(groups == 1, x * scale + shift, x)
    assert metrics.spearman_within(scaled, y, groups) == pytest.approx(
        metrics.spearman_within(x, y, groups), abs=1e-12)


def test_known_values() -> None:
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    x = np.array([1.0, 2.0, 3.0, 10.0, 30.0, 20.0])
    y = np.array([5.0, 6.0, 7.0, 1.0, 3.0, 2.0])
    assert metrics.spearman_within(x, y, groups) == pytest.approx(1.0)
    assert metrics.spearman_within(x, -y, groups) == pytest.approx(-1.0)
    # ties share their average rank
    pct = metrics.within_group_percentiles(np.array([1.0, 1.0, 3.0]), np.zeros(3))
    assert pct.tolist() == pytest.approx([(1.5 - 0.5) / 3, (1.5 - 0.5) / 3, (3 - 0.5) / 3])
    assert metrics.partial_correlation(0.5, 0.0, 0.0) == pytest.approx(0.5)
    assert metrics.partial_correlation(0.6, 0.6, 1.0) != metrics.partial_correlation(0.6, 0, 0)
    assert metrics.side_match([2, 0], [1, 1], [5, 5], [1, 9]) == 1.0
    log = metrics.log_pearson_within(np.array([1.0, 10.0, 100.0]), np.array([2.0, 20.0,
                                                                            200.0]), np.zeros(3))
    assert log == pytest.approx(1.0, abs=1e-3)


def test_attraction_finds_clusters_that_are_reached_and_not_random_ones() -> None:
    rng = np.random.default_rng(1)
    move = rng.uniform(0.0, 0.05, 200)
    groups = np.zeros(200)
    reached = metrics.attraction_test(move, move * 0.5, groups, 500, rng)
    assert reached["hit_rate"] == 1.0 and reached["p_value"] < 0.01
    independent = np.random.default_rng(7).uniform(0.0, 0.05, 200)
    random = metrics.attraction_test(move, independent, groups, 500, rng)
    assert random["p_value"] > 0.01
    assert 0.0 < random["random_hit_rate"] < 1.0


def test_bootstrap_draws_whole_days() -> None:
    days = np.array([1, 1, 2, 2, 3])
    draws = metrics.bootstrap_by_day(days, lambda rows: [len(rows) % 2], 200,
                                     np.random.default_rng(0))
    assert draws.shape == (200, 1)
    # each day holds 2 rows except day 3 (1 row): an odd count needs day 3 an odd number of times
    assert set(draws.ravel().tolist()) <= {0.0, 1.0}
