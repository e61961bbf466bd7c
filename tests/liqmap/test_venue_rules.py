"""Bundled margin rules per venue (Bybit, OKX, Lighter): known liquidation prices computed by
hand from each venue's rule, leverage caps from the tiers, the formula each venue uses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import max_leverage_for
from execsvc.liqmap.margin import LIQUIDATION_FORMULAS, bybit_liquidation_price, liquidation_price
from execsvc.liqmap.venue_rules import (
    bybit_brackets,
    lighter_brackets,
    okx_brackets,
    venue_brackets,
    venue_formula,
)


def test_bybit_tiers_and_known_liquidation_prices() -> None:
    tiers = bybit_brackets("BTC")
    assert [(b.notional_floor, b.mmr, b.max_leverage) for b in tiers] == [
        (0.0, 0.005, 100.0), (2e6, 0.01, 57.14), (4e6, 0.015, 40.0)]
    assert [b.cum for b in tiers] == pytest.approx([0.0, 10_000.0, 30_000.0])  # MM deduction
    # 10k USDT long at 10x from 100,000: IM 1,000, MM 50 -> 100,000 - 950 / 0.1
    assert bybit_liquidation_price("long", 100_000.0, 0.1, 10.0, tiers) == pytest.approx(90_500.0)
    # 3M USDT long at 20x (tier 2): IM 150,000, MM 3e6 * 1 % - 10,000 = 20,000
    assert bybit_liquidation_price("long", 100_000.0, 30.0, 20.0, tiers) == pytest.approx(
        100_000.0 - 130_000.0 / 30.0)
    assert venue_formula("bybit") == "bybit" and LIQUIDATION_FORMULAS["bybit"] is (
        bybit_liquidation_price)
    assert bybit_brackets("ETH") == tiers  # the stated stand-in


def test_okx_tier_one_known_liquidation_price() -> None:
    tiers = okx_brackets("BTC")
    assert len(tiers) == 1 and tiers[0].mmr == 0.004 and tiers[0].max_leverage == 100.0
    # equity at LP = margin + Q (LP - EP) = MMR Q LP  ->  LP = (1,000/0.1 - 100,000) / (0.004 - 1)
    lp = liquidation_price("long", 100_000.0, 0.1, 10.0, tiers)
    assert lp == pytest.approx(90_000.0 / 0.996)
    assert 1_000.0 + 0.1 * (lp - 100_000.0) == pytest.approx(0.004 * 0.1 * lp)
    assert venue_formula("okx") == "binance"


def test_lighter_flat_margin_known_liquidation_price() -> None:
    tiers = lighter_brackets("ETH")
    assert max_leverage_for(tiers, 1e9) == 50.0 and tiers[0].mmr == 0.01
    lp = liquidation_price("short", 3_000.0, 10.0, 50.0, tiers)
    # short: margin 600; LP = (600/10 + 3,000) / (1 + 0.01)
    assert lp == pytest.approx(3_060.0 / 1.01)
    with pytest.raises(KeyError, match="Lighter"):
        lighter_brackets("DOGE")


@pytest.mark.parametrize(("venue", "cap"), [("bybit", 100.0), ("okx", 100.0),
                                            ("lighter", 50.0), ("hyperliquid", 40.0)])
def test_each_venue_caps_leverage_from_its_tiers(venue: str, cap: float) -> None:
    assert max_leverage_for(venue_brackets(venue, "BTC"), 10_000.0) == cap


@given(st.sampled_from(["bybit", "okx", "lighter", "hyperliquid"]), st.floats(1.0, 40.0),
       st.floats(100.0, 200_000.0), st.sampled_from(["long", "short"]))
@settings(max_examples=100, deadline=None)
def test_at_the_liquidation_price_equity_equals_maintenance(
        venue: str, leverage: float, entry: float, side: str) -> None:
    """For a 10k position (first tier, no deduction) every venue's price leaves exactly the
    maintenance margin: `margin + s Q (LP - EP) = MMR * Q * (LP, or EP on Bybit)`."""
    tiers = venue_brackets(venue, "BTC")
    leverage = min(leverage, tiers[0].max_leverage)
    quantity = 10_000.0 / entry
    formula = LIQUIDATION_FORMULAS[venue_formula(venue)]
    lp = formula(side, entry, quantity, leverage, tiers)
    s = 1.0 if side == "long" else -1.0
    equity = quantity * entry / leverage + s * quantity * (lp - entry)
    priced_at = entry if venue == "bybit" else lp
    if lp > 0:
        assert equity == pytest.approx(tiers[0].mmr * quantity * priced_at, rel=1e-6, abs=1e-6)
