"""The symbol map across venues: documented defaults and overrides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execsvc.market.venue_symbols import (
    default_venue_symbol,
    split_key,
    venue_symbol,
    venue_symbol_map,
)


@pytest.mark.parametrize(("venue", "key", "unified"), [
    ("binanceusdm", "BTCUSDT", "BTC/USDT:USDT"), ("bybit", "ETHUSDT", "ETH/USDT:USDT"),
    ("okx", "BTCUSDT", "BTC/USDT:USDT"), ("hyperliquid", "BTCUSDT", "BTC/USDC:USDC"),
    ("lighter", "ETHUSDT", "ETH/USDC:USDC"), ("bybit", "BTCUSDC", "BTC/USDC:USDC"),
    ("okx", "BTC-PERP", None), ("bybit", "USDT", None),
])
def test_default_symbols(venue: str, key: str, unified: str | None) -> None:
    assert default_venue_symbol(venue, key) == unified


def test_overrides_win_and_unmapped_keys_are_left_out() -> None:
    overrides = {"PEPEUSDT": {"hyperliquid": "KPEPE/USDC:USDC"}}
    assert venue_symbol("hyperliquid", "pepeusdt", overrides) == "KPEPE/USDC:USDC"
    assert venue_symbol("bybit", "PEPEUSDT", overrides) == "PEPE/USDT:USDT"
    assert venue_symbol_map("okx", ["BTCUSDT", "BTC-PERP"]) == {"BTCUSDT": "BTC/USDT:USDT"}
    assert venue_symbol_map("ftx", ["BTC-PERP"], {"BTC-PERP": {"ftx": "BTC/USD:USD"}}) == {
        "BTC-PERP": "BTC/USD:USD"}


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8),
       st.sampled_from(["USDT", "USDC", "USD", "FDUSD"]))
def test_a_key_splits_into_its_base_and_the_longest_quote(base: str, quote: str) -> None:
    parts = split_key(base + quote)
    assert parts is not None and parts[0] + parts[1] == base + quote
    assert parts[1] in ("USDT", "USDC", "USD", "FDUSD", "BUSD")
