"""The map model: hand-worked cases, a slow per-cohort reference, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.margin import liquidation_price
from execsvc.liqmap.model import MapParams, build_map
from execsvc.liqmap.survival import oi_shrink_factor, suffix_max_high, suffix_min_low

BTC = BINANCE_USDM_BRACKETS["BTCUSDT"]
HOUR = 3_600_000


def make_candles(closes, spread=0.002, taker_share=None) -> Candles:
    closes = np.asarray(closes, dtype=float)
    opens = np.concatenate(([closes[0]], closes[:-1]))
    high = np.maximum(opens, closes) * (1 + spread)
    low = np.minimum(opens, closes) * (1 - spread)
    n = len(closes)
    volume = np.full(n, 100.0)
    taker = np.full(n, np.nan) if taker_share is None else volume * np.asarray(taker_share)
    return Candles(np.arange(n, dtype=np.int64) * HOUR, opens, high, low, closes, volume, taker,
                   HOUR)


def test_suffix_extremes_include_the_current_price() -> None:
    low = np.array([5.0, 3.0, 4.0, 6.0])
    assert suffix_min_low(low, 5.5).tolist() == [3.0, 4.0, 5.5, 5.5]
    assert suffix_max_high(low, 5.5).tolist() == [6.0, 6.0, 6.0, 5.5]


def test_oi_shrink_factor_by_hand() -> None:
    # OI 100 -> 200 -> 150 -> 300: the fall to 150 closes a quarter of what was open before it.
    assert oi_shrink_factor(np.array([100.0, 200.0, 150.0, 300.0])) == pytest.approx(
        [0.75, 0.75, 1.0, 1.0]
    )


def test_single_cohort_by_hand() -> None:
    """One candle opens 1M of OI at a typical price of 100, all of it 10x long (taker buys
    100 %). Later candles stay above its liquidation price, so the 1M sits in the band holding
    `liquidation_price('long', 100, 100, 10)` = 90.36..., and nothing else is on the map."""
    candles = make_candles([100.0, 100.0, 100.0], spread=0.0, taker_share=[1.0, 1.0, 1.0])
    oi = np.array([1e6, 2e6, 2e6])
    params = MapParams(leverage_mix={10: 1.0}, position_notional_quote=10_000,
                       bin_width_bps=10, range_pct=20)
    liq_map = build_map(candles, oi, BTC, 100.0, 3 * HOUR, params)
    expected_price = liquidation_price("long", 100.0, 100.0, 10, BTC)
    band = np.flatnonzero(liq_map.long_notional)
    assert band.size == 1
    edges = liq_map.grid.edges()
    assert edges[band[0]] <= expected_price < edges[band[0] + 1]
    assert liq_map.long_notional.sum() == pytest.approx(1e6)
    assert liq_map.short_notional.sum() == 0.0
    assert liq_map.model == "oi_delta"
    assert [c.side for c in liq_map.clusters] == ["long"]
    assert liq_map.clusters[0].price_low <= expected_price <= liq_map.clusters[0].price_high


def test_cohort_is_removed_by_a_candle_trading_through() -> None:
    candles = make_candles([100.0, 100.0, 85.0, 100.0], spread=0.0, taker_share=[1, 1, 1, 1])
    params = MapParams(leverage_mix={10: 1.0}, bin_width_bps=10, range_pct=20)
    liq_map = build_map(candles, np.array([1e6, 2e6, 2e6, 2e6]), BTC, 100.0, 4 * HOUR, params)
    assert liq_map.long_notional.sum() == 0.0


def test_volume_proxy_without_open_interest() -> None:
    candles = make_candles([100.0, 101.0, 102.0, 101.5])
    liq_map = build_map(candles, None, BTC, 101.5, 4 * HOUR)
    assert liq_map.model == "volume_proxy"
    assert liq_map.long_notional.sum() > 0 and liq_map.short_notional.sum() > 0


def reference_surviving(candles: Candles, oi: np.ndarray, price: float, params: MapParams):
    """Slow per-cohort loop with the public `liquidation_price`: (long, short) notional by
    liquidation price, to check the vectorised model against."""
    entry = (candles.high + candles.low + candles.close) / 3
    rng = candles.high - candles.low
    share = np.clip(0.5 + 0.5 * (candles.close - candles.open) / np.where(rng > 0, rng, 1), .1, .9)
    share = np.where(rng > 0, share, 0.5)
    weights = {lev: w / sum(params.leverage_mix.values()) for lev, w in params.leverage_mix.items()}
    out = []
    for i in range(len(candles)):
        opened = max(oi[i] - oi[i - 1], 0.0) if i else 0.0
        kept = 1.0
        for j in range(i + 1, len(candles)):
            kept *= min(1.0, oi[j] / oi[j - 1])
        later_low = min([*candles.low[i + 1:], price])
        later_high = max([*candles.high[i + 1:], price])
        for lev, w in weights.items():
            q = params.position_notional_quote / entry[i]
            long_lp = liquidation_price("long", entry[i], q, lev, BTC)
            short_lp = liquidation_price("short", entry[i], q, lev, BTC)
            if long_lp < later_low:
                out.append(("long", long_lp, opened * kept * share[i] * w))
            if short_lp > later_high:
                out.append(("short", short_lp, opened * kept * (1 - share[i]) * w))
    return out


walks = st.lists(st.floats(-0.03, 0.03), min_size=2, max_size=60)
oi_steps = st.lists(st.floats(0.5, 2.0), min_size=60, max_size=60)


def scenario(returns, steps):
    closes = 50_000 * np.exp(np.cumsum(returns))
    candles = make_candles(closes, spread=0.004)
    oi = 1e8 * np.cumprod(steps[: len(closes)])
    return candles, oi, float(closes[-1])


PARAMS = MapParams(leverage_mix={5: 0.2, 10: 0.3, 25: 0.3, 100: 0.2}, bin_width_bps=25,
                   range_pct=15)


@settings(max_examples=60, deadline=None)
@given(walks, oi_steps)
def test_matches_the_per_cohort_reference(returns, steps) -> None:
    candles, oi, price = scenario(returns, steps)
    liq_map = build_map(candles, oi, BTC, price, len(candles) * HOUR, PARAMS)
    cohorts = reference_surviving(candles, oi, price, PARAMS)
    long_total = sum(n for side, _, n in cohorts if side == "long")
    short_total = sum(n for side, _, n in cohorts if side == "short")
    # binned + out of range == surviving cohorts' total, per side
    assert liq_map.long_notional.sum() + liq_map.out_of_range_long == pytest.approx(long_total)
    assert liq_map.short_notional.sum() + liq_map.out_of_range_short == pytest.approx(short_total)
    # and band by band inside the grid
    edges = liq_map.grid.edges()
    expected = np.zeros(liq_map.grid.n_bins)
    for _, lp, notional in cohorts:
        k = np.searchsorted(edges, lp, side="right") - 1
        if 0 <= k < len(expected):
            expected[k] += notional
    got = liq_map.long_notional + liq_map.short_notional
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-3)


@settings(max_examples=80, deadline=None)
@given(walks, oi_steps)
def test_sides_of_the_price_and_monotone_curves(returns, steps) -> None:
    candles, oi, price = scenario(returns, steps)
    liq_map = build_map(candles, oi, BTC, price, len(candles) * HOUR, PARAMS)
    n = liq_map.grid.n_side
    assert np.all(liq_map.long_notional[n:] == 0), "no long liquidation band above the price"
    assert np.all(liq_map.short_notional[:n] == 0), "no short liquidation band below the price"
    assert np.all(np.diff(liq_map.cum_long[:n]) <= 1e-9), "long curve grows away from price"
    assert np.all(np.diff(liq_map.cum_short[n:]) >= -1e-9), "short curve grows away from price"
    assert liq_map.by_leverage.sum(axis=0) == pytest.approx(
        liq_map.long_notional + liq_map.short_notional
    )
    assert liq_map.intensity.min() >= 0.0 and liq_map.intensity.max() <= 1.0
    for cluster in liq_map.clusters:
        assert (cluster.price_high <= price) if cluster.side == "long" else (
            cluster.price_low >= price)


@settings(max_examples=60, deadline=None)
@given(walks, oi_steps, st.floats(0.01, 1000))
def test_intensity_unchanged_when_open_interest_is_scaled(returns, steps, factor) -> None:
    candles, oi, price = scenario(returns, steps)
    base = build_map(candles, oi, BTC, price, len(candles) * HOUR, PARAMS)
    scaled = build_map(candles, oi * factor, BTC, price, len(candles) * HOUR, PARAMS)
    assert scaled.intensity == pytest.approx(base.intensity, abs=1e-9)
    assert scaled.long_notional.sum() == pytest.approx(base.long_notional.sum() * factor)
    assert [c.rank for c in scaled.clusters] == [c.rank for c in base.clusters]


@settings(max_examples=80, deadline=None)
@given(walks)
def test_no_cohort_survives_a_candle_trading_through_it(returns) -> None:
    """Only the first candle opens positions; each leverage's long (short) cohort must be on
    the map exactly when no later low (high), nor the current price, reached its price."""
    closes = 50_000 * np.exp(np.cumsum(returns))
    candles = make_candles(closes, spread=0.004)
    oi = np.full(len(closes), 2e8)
    oi[0] = 0.0  # candle 1 opens 2e8; nothing opens or closes later
    price = float(closes[-1])
    params = MapParams(leverage_mix={5: 1, 10: 1, 25: 1, 50: 1, 100: 1}, bin_width_bps=25,
                       range_pct=60)
    liq_map = build_map(candles, oi, BTC, price, len(candles) * HOUR, params)
    entry = (candles.high[1] + candles.low[1] + candles.close[1]) / 3
    later_low = min(candles.low[2:].min(initial=price), price)
    later_high = max(candles.high[2:].max(initial=price), price)
    n = liq_map.grid.n_side
    for j, lev in enumerate(liq_map.leverages):
        q = params.position_notional_quote / entry
        long_alive = liquidation_price("long", entry, q, lev, BTC) < later_low
        short_alive = liquidation_price("short", entry, q, lev, BTC) > later_high
        assert (liq_map.by_leverage[j, :n].sum() > 0) == long_alive
        assert (liq_map.by_leverage[j, n:].sum() > 0) == short_alive
