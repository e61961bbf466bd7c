"""Liquidation prices: exchange-computed known answers, hand-worked values, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS, brackets_from_floors
from execsvc.liqmap.margin import (
    binance_liquidation_price_for_wallet,
    bybit_liquidation_price,
    liquidation_price,
    liquidation_price_ratio,
)

BTC = BINANCE_USDM_BRACKETS["BTCUSDT"]


def test_cum_follows_continuity_rule() -> None:
    # Binance publishes cum (maintAmt) 0, 50, 1300, 46300 for the first BTCUSDT brackets.
    assert [b.cum for b in BTC[:4]] == [0.0, 50.0, 1300.0, 46300.0]
    assert BTC[0].notional_cap == BTC[1].notional_floor == 50_000
    assert BTC[-1].notional_cap == float("inf")


def test_exchange_computed_liquidation_price_cross_long() -> None:
    """Binance /fapi/v2/positionRisk (ccxt fixture): 0.009 BTCUSDT long @ 67445.9 on a cross
    wallet whose collateral ccxt reports as 25.72470371 USDT: liquidationPrice 64846.98753790."""
    price = binance_liquidation_price_for_wallet("long", 67445.9, 0.009, 25.72470371, BTC)
    assert price == pytest.approx(64846.98753790, abs=1e-6)


def test_isolated_long_and_short_by_hand() -> None:
    # 1 BTC at 60,000, 10x: WB = 6,000; notional at LP ~54k -> bracket 2 (mmr 0.005, cum 50).
    # LP = (6000 + 50 - 60000) / (0.005 - 1) = 54221.1055...
    assert liquidation_price("long", 60_000, 1, 10, BTC) == pytest.approx(53_950 / 0.995)
    # short: LP = (6000 + 1300 + 60000) / (0.01 + 1): notional ~66.6k, still bracket 2 (cum 50)
    assert liquidation_price("short", 60_000, 1, 10, BTC) == pytest.approx(66_050 / 1.005)


def test_bracket_is_chosen_by_notional_at_liquidation() -> None:
    # 0.8 BTC at 62,000 is 49.6k at entry (bracket 1) but a short's LP notional exceeds 50k.
    short = liquidation_price("short", 62_000, 0.8, 20, BTC)
    assert 0.8 * short >= 50_000
    expected = (0.8 * 62_000 / 20 + 50 + 0.8 * 62_000) / (0.8 * 0.005 + 0.8)
    assert short == pytest.approx(expected)


def test_bybit_formula_by_hand() -> None:
    brackets = brackets_from_floors([(0, 0.005), (2_000_000, 0.01)])
    # 1 BTC long at 50,000, 10x: IM 5,000, MM 250 -> LP = 50,000 - 4,750 = 45,250
    assert bybit_liquidation_price("long", 50_000, 1, 10, brackets) == pytest.approx(45_250)
    assert bybit_liquidation_price("short", 50_000, 1, 10, brackets) == pytest.approx(54_750)


def test_arrays_and_bad_side() -> None:
    prices = liquidation_price("long", np.array([30_000.0, 60_000.0]), 0.1, 20, BTC)
    assert prices.shape == (2,)
    assert prices[1] == pytest.approx(2 * prices[0])
    with pytest.raises(ValueError, match="side"):
        liquidation_price("flat", 1.0, 1.0, 1.0, BTC)  # type: ignore[arg-type]


@given(
    entry=st.floats(1_000, 200_000),
    notional=st.floats(100, 5_000_000),
    leverage=st.sampled_from([2, 5, 10, 20, 25, 50, 75]),
)
def test_long_below_entry_short_above_and_ratio_scales(entry, notional, leverage) -> None:
    # Binance caps leverage per bracket: an opening needs initial margin above maintenance.
    top_rate = max(b.mmr for b in BTC if b.notional_floor <= notional * 1.5)
    assume(1 / leverage > top_rate)
    quantity = notional / entry
    long_lp = liquidation_price("long", entry, quantity, leverage, BTC)
    short_lp = liquidation_price("short", entry, quantity, leverage, BTC)
    ratio = liquidation_price_ratio("long", leverage, notional, BTC)
    assert long_lp < entry < short_lp
    assert long_lp == pytest.approx(ratio * entry, rel=1e-9)
    # the chosen bracket really holds the notional at the liquidation price
    chosen = [b for b in BTC if b.notional_floor <= quantity * long_lp < b.notional_cap]
    assert len(chosen) == 1


@given(leverage=st.floats(1.5, 125), notional=st.floats(10, 40_000))
def test_higher_leverage_liquidates_closer(leverage, notional) -> None:
    lower = liquidation_price_ratio("long", leverage, notional, BTC)
    higher = liquidation_price_ratio("long", leverage * 1.2, notional, BTC)
    assert higher >= lower
