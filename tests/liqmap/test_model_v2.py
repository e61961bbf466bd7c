"""Model v2 pieces: venue rules, leverage mix, churn, base-unit OI, stock, model version."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import max_leverage_for
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.churn import churn_liquidated
from execsvc.liqmap.leverage import effective_leverage_mix
from execsvc.liqmap.margin import liquidation_price
from execsvc.liqmap.model import MapParams, build_map, model_version
from execsvc.liqmap.venue_rules import hyperliquid_brackets, venue_brackets
from execsvc.market.ccxt_source import _brackets_from_tiers

HOUR = 3_600_000


@given(st.sampled_from(["BTC", "ETH", "SOL", "HYPE", "DOGE"]), st.floats(1.0, 10.0),
       st.floats(1.0, 1e5), st.sampled_from(["long", "short"]))
@settings(max_examples=80, deadline=None)
def test_hyperliquid_liquidation_price_matches_its_documented_formula(
        coin: str, leverage_fraction: float, entry: float, side: str) -> None:
    brackets = hyperliquid_brackets(coin)
    max_lev = brackets[0].max_leverage
    leverage = min(max_lev, max_lev / leverage_fraction)
    size = 10_000.0 / entry
    mmr = 0.5 / max_lev
    s = 1 if side == "long" else -1
    margin_available = size * entry / leverage - size * entry * mmr
    documented = entry - s * margin_available / size / (1 - mmr * s)
    ours = liquidation_price(side, entry, size, leverage, brackets)
    # at 1x a long's liquidation price is 0 exactly; rounding leaves ~1e-12 of the entry
    assert ours == pytest.approx(max(documented, 0.0), rel=1e-9, abs=1e-9 * entry)


def test_venue_tables_and_caps() -> None:
    assert [b.max_leverage for b in hyperliquid_brackets("BTC")] == [40.0, 20.0]
    assert hyperliquid_brackets("ETH")[0].mmr == pytest.approx(0.02)
    assert max_leverage_for(hyperliquid_brackets("SOL"), 10_000) == 20.0
    assert max_leverage_for(hyperliquid_brackets("SOL"), 80e6) == 10.0
    assert math.isinf(max_leverage_for(venue_brackets("binanceusdm", "BTC"), 10_000))
    with pytest.raises(KeyError, match="bundled"):
        venue_brackets("hyperliquid", "NOPE")
    tiers = [{"minNotional": 0, "maxNotional": 50_000, "maintenanceMarginRate": 0.004,
              "maxLeverage": 125, "info": {"cum": "0"}},
             {"minNotional": 50_000, "maxNotional": None, "maintenanceMarginRate": 0.005,
              "maxLeverage": 100, "info": {"cum": "50"}}]
    assert [b.max_leverage for b in _brackets_from_tiers(tiers)] == [125.0, 100.0]


@given(st.dictionaries(st.floats(1, 125), st.floats(0.01, 1), min_size=1, max_size=6),
       st.floats(1, 125), st.floats(0, 1), st.floats(1, 5))
@settings(max_examples=80, deadline=None)
def test_effective_mix_is_capped_and_keeps_its_weight(mix, cap, cross, multiple) -> None:
    out = effective_leverage_mix(mix, cap, cross, multiple)
    assert sum(out.values()) == pytest.approx(1.0)
    assert max(out) <= cap + 1e-9 and min(out) >= 1.0
    isolated_only = effective_leverage_mix(mix, cap, 0.0, multiple)
    assert max(isolated_only) == pytest.approx(min(cap, max(mix)))


def test_churn_known_answer() -> None:
    ratios_long, ratios_short = np.array([0.9]), np.array([1.1])
    weights = np.array([1.0])
    # entries over [90, 110]; a long at p dies when 90 <= 0.9 p: p >= 100 -> half the range
    long, short = churn_liquidated(100.0, 100.0, ratios_long, ratios_short, weights, 90.0, 110.0)
    assert long == pytest.approx(50.0)
    # a short at p dies when 110 >= 1.1 p: p <= 100 -> half
    assert short == pytest.approx(50.0)
    narrow = churn_liquidated(100.0, 100.0, ratios_long, ratios_short, weights, 99.0, 101.0)
    assert narrow == (0.0, 0.0)
    unliquidatable = np.array([0.0])
    assert churn_liquidated(100.0, 100.0, unliquidatable, ratios_short, weights, 1.0, 2.0)[0] == 0


def flat_candles(prices: list[float], start_ms: int = 0) -> Candles:
    p = np.array(prices, dtype=float)
    n = len(p)
    return Candles(open_time_ms=start_ms + np.arange(n, dtype=np.int64) * HOUR, open=p, high=p,
                   low=p, close=p, volume=np.ones(n), taker_buy_volume=np.full(n, np.nan),
                   interval_ms=HOUR)


def test_base_units_do_not_read_a_price_move_as_new_positions() -> None:
    prices = [100.0, 101.0, 102.0, 103.0]
    candles = flat_candles(prices)
    base_oi = 10.0
    oi_quote = np.array(prices) * base_oi  # the same 10 coins, revalued
    params = MapParams(leverage_mix={5.0: 1.0}, side_split="even")
    before = flat_candles([99.0], start_ms=-HOUR)  # the OI before the window is at 99
    quote = build_map(candles, oi_quote, hyperliquid_brackets("BTC"), 103.0, 4 * HOUR, params,
                      oi_before=99.0 * base_oi, history=before)
    base = build_map(candles, oi_quote, hyperliquid_brackets("BTC"), 103.0, 4 * HOUR,
                     dataclasses.replace(params, oi_units="base"), oi_before=99.0 * base_oi,
                     history=before)
    assert quote.long_notional.sum() + quote.short_notional.sum() > 0
    assert base.long_notional.sum() + base.short_notional.sum() == pytest.approx(0.0)


def test_the_stock_covers_the_open_interest_at_the_window_start() -> None:
    history = flat_candles([100.0] * 48)
    window = flat_candles([100.0] * 24, start_ms=48 * HOUR)
    oi = np.full(24, 5_000.0)
    params = MapParams(leverage_mix={5.0: 0.5, 10.0: 0.5}, side_split="even",
                       stock_half_life_h=12.0)
    liq = build_map(window, oi, hyperliquid_brackets("BTC"), 100.0, 72 * HOUR, params,
                    oi_before=5_000.0, history=history)
    total = (liq.long_notional.sum() + liq.short_notional.sum() + liq.out_of_range_long
             + liq.out_of_range_short)
    assert total == pytest.approx(5_000.0)
    without = build_map(window, oi, hyperliquid_brackets("BTC"), 100.0, 72 * HOUR,
                        dataclasses.replace(params, stock_half_life_h=0.0), oi_before=5_000.0,
                        history=history)
    assert without.long_notional.sum() + without.short_notional.sum() == 0.0


def test_model_version_names_the_parameters() -> None:
    a = MapParams()
    assert model_version(a) == model_version(MapParams())
    assert model_version(a).startswith("2.")
    assert model_version(dataclasses.replace(a, churn_rate_per_day=0.2)) != model_version(a)
