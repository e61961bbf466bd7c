"""The fused survival-and-binning kernel against the numpy reference: the same numbers bit for
bit, on random cohorts and through `build_map` with every optional path of model v2."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.liqmap import binning, model
from execsvc.liqmap.bands import BandGrid
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.funding import FundingRates
from execsvc.liqmap.model import MapParams, build_map
from execsvc.liqmap.venue_rules import hyperliquid_brackets

HOUR = 3_600_000


def test_the_kernel_is_compiled_with_numba() -> None:
    assert binning._kernel() is not None
    assert binning.KERNEL == "numba"


def assert_same_binning(a, b) -> None:
    assert np.array_equal(a.by_group, b.by_group)
    assert np.array_equal(a.below, b.below)
    assert np.array_equal(a.above, b.above)


@st.composite
def cohorts(draw):
    """Random groups (longs first), entries, notional rows, extremes and a price."""
    n = draw(st.integers(1, 300))
    n_long = draw(st.integers(0, 4))
    n_short = draw(st.integers(0 if n_long else 1, 4))
    long_ratios = draw(st.lists(st.floats(0.0, 0.999), min_size=n_long, max_size=n_long))
    short_ratios = draw(st.lists(st.floats(1.001, 3.0), min_size=n_short, max_size=n_short))
    ratios = np.array(long_ratios + short_ratios, dtype=np.float64)
    is_long = np.arange(len(ratios)) < n_long
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    price = draw(st.floats(0.01, 1e5))
    drift = np.exp(np.cumsum(rng.normal(0, draw(st.floats(0.0, 0.05)), n)))
    entry = price * drift / drift[-1]
    spread = rng.uniform(0, 0.03, n)
    low, high = entry * (1 - spread), entry * (1 + spread)
    per_group = draw(st.booleans())  # the stock path: one notional row per group
    rows_count = len(ratios) if per_group else 2
    base = rng.uniform(0, 1e6, (rows_count, n)) * (rng.random((rows_count, n)) > 0.2)
    rows = np.arange(len(ratios)) if per_group else np.where(is_long, 0, 1)
    grid = BandGrid.around(price, draw(st.sampled_from([1.0, 5.0, 10.0, 25.0])),
                           draw(st.sampled_from([1.0, 5.0, 20.0, 60.0])))
    return grid, ratios, is_long, entry, base, rows, low, high, price


@settings(max_examples=150, deadline=None)
@given(cohorts())
def test_kernel_matches_the_numpy_reference_bit_for_bit(case) -> None:
    assert_same_binning(binning.bin_surviving(*case), binning.bin_surviving_numpy(*case))


def test_kernel_on_cohorts_at_band_edges_and_at_the_price() -> None:
    """Liquidation prices exactly on band edges, at the price and beyond the grid."""
    price = 100.0
    grid = BandGrid.around(price, 100.0, 5.0)  # 1-quote bands from 95 to 105
    ratios = np.array([0.95, 0.99, 1.0, 1.01, 1.05])
    is_long = np.array([True, True, True, False, False])
    entry = np.array([100.0, 101.0, 96.0, 110.0, 90.0])
    base = np.vstack((np.arange(1.0, 6.0), np.arange(10.0, 60.0, 10.0)))
    rows = np.where(is_long, 0, 1)
    low = np.full(5, 90.0)
    high = np.full(5, 101.0)
    args = (grid, ratios, is_long, entry, base, rows, low, high, price)
    assert_same_binning(binning.bin_surviving(*args), binning.bin_surviving_numpy(*args))


def candles(closes: np.ndarray, seed: int) -> Candles:
    rng = np.random.default_rng(seed)
    opens = np.concatenate(([closes[0]], closes[:-1]))
    spread = rng.uniform(0.0, 0.01, len(closes))
    high = np.maximum(opens, closes) * (1 + spread)
    low = np.minimum(opens, closes) * (1 - spread)
    n = len(closes)
    volume = rng.uniform(1, 100, n)
    taker = volume * rng.uniform(0, 1, n)
    return Candles(np.arange(n, dtype=np.int64) * HOUR, opens, high, low, closes, volume,
                   taker, HOUR)


VARIANTS = {
    "service default": MapParams(cap_leverage_to_venue=True, side_split="even",
                                 churn_rate_per_day=0.1),
    "aggressor split": MapParams(),
    "base units": MapParams(oi_units="base", side_split="even"),
    "stock": MapParams(stock_half_life_h=6.0, side_split="even", cap_leverage_to_venue=True),
    "cross share": MapParams(cross_share=0.4, cap_leverage_to_venue=True),
    "funding split": MapParams(side_split="funding", funding_crowding=0.3),
    "everything": MapParams(oi_units="base", stock_half_life_h=4.0, cap_leverage_to_venue=True,
                            cross_share=0.3, side_split="funding", funding_crowding=0.2),
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(VARIANTS)), st.integers(0, 2**32 - 1), st.booleans(),
       st.sampled_from(["binance", "hyperliquid"]))
def test_build_map_is_the_same_with_either_formulation(name, seed, with_oi, venue) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 200))
    closes = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    all_candles = candles(closes, seed)
    split = n // 3
    history, window = all_candles.slice(0, split), all_candles.slice(split, n)
    oi = 1e8 * np.cumprod(rng.uniform(0.9, 1.12, n - split)) if with_oi else None
    brackets = BINANCE_USDM_BRACKETS["BTCUSDT"] if venue == "binance" else (
        hyperliquid_brackets("BTC"))
    funding = FundingRates(time_ms=np.arange(0, n, 8, dtype=np.int64) * HOUR,
                           rate_per_h=rng.normal(0, 2e-5, len(range(0, n, 8))))
    params = dataclasses.replace(VARIANTS[name], bin_width_bps=float(rng.choice([5, 10, 25])))
    arguments = (window, oi, brackets, float(closes[-1]), n * HOUR, params)
    options = {"oi_before": 1e8, "history": history, "funding": funding}
    fast = build_map(*arguments, **options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "bin_surviving", binning.bin_surviving_numpy)
        reference = build_map(*arguments, **options)
    for field in ("long_notional", "short_notional", "by_leverage", "cum_long", "cum_short",
                  "intensity"):
        assert np.array_equal(getattr(fast, field), getattr(reference, field)), field
    assert fast.out_of_range_long == reference.out_of_range_long
    assert fast.out_of_range_short == reference.out_of_range_short
    assert fast.clusters == reference.clusters
