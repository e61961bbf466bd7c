"""Normalising ccxt liquidation structures into `LiquidationEvent`: sides per venue, units,
event ids, and refusal of impossible values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.liquidations import LiquidationEvent, event_id
from execsvc.market.ccxt_liquidations import MalformedLiquidation, normalise


def ccxt_structure(**fields) -> dict:
    """What ccxt's `parse_ws_liquidation` returns, with the given fields replaced."""
    base = {"info": {}, "symbol": "BTC/USDT:USDT", "contracts": 0.014, "contractSize": None,
            "price": 9910.0, "side": "sell", "baseValue": None, "quoteValue": None,
            "timestamp": 1568014460893, "datetime": "2019-09-09T07:34:20.893Z"}
    return {**base, **fields}


def test_binance_reports_the_order_side_and_bybit_the_position_side() -> None:
    sell_order = normalise(ccxt_structure(side="sell"), venue="binanceusdm", symbol="BTCUSDT")
    buy_order = normalise(ccxt_structure(side="buy"), venue="binanceusdm", symbol="BTCUSDT")
    assert (sell_order.side, buy_order.side) == ("long", "short")
    buy_position = normalise(ccxt_structure(side="buy"), venue="bybit", symbol="BTCUSDT")
    sell_position = normalise(ccxt_structure(side="sell"), venue="bybit", symbol="BTCUSDT")
    assert (buy_position.side, sell_position.side) == ("long", "short")


def test_units_follow_the_binance_documentation_example() -> None:
    # Binance's forceOrder example: SELL 0.014 BTCUSDT at an average price of 9910, T 1568014460893
    event = normalise(ccxt_structure(), venue="binanceusdm", symbol="BTCUSDT")
    assert event.time_ms == 1568014460893
    assert event.price == 9910.0 and event.quantity_base == 0.014
    assert event.notional_quote == pytest.approx(138.74)
    assert event.venue == "binanceusdm" and event.symbol == "BTCUSDT"


def test_contract_size_turns_contracts_into_base_units() -> None:
    from_market = normalise(ccxt_structure(contracts=13), venue="bybit", symbol="ETHUSDT",
                            contract_size=0.01)
    from_structure = normalise(ccxt_structure(contracts=13, contractSize=0.1), venue="bybit",
                               symbol="ETHUSDT", contract_size=0.01)
    assert from_market.quantity_base == pytest.approx(0.13)
    assert from_structure.quantity_base == pytest.approx(1.3)


@pytest.mark.parametrize(("field", "value"), [
    ("price", None), ("price", 0), ("price", -5.0), ("price", float("nan")), ("price", "abc"),
    ("price", True), ("contracts", None), ("contracts", 0.0), ("contracts", float("inf")),
    ("timestamp", None), ("timestamp", "1568014460893"), ("timestamp", 0), ("timestamp", 1.5),
    ("side", None), ("side", "long"), ("contractSize", -1.0),
])
def test_an_impossible_field_is_refused_by_name(field: str, value) -> None:
    with pytest.raises(MalformedLiquidation, match=field):
        normalise(ccxt_structure(**{field: value}), venue="binanceusdm", symbol="BTCUSDT")


def test_a_venue_without_a_side_convention_is_refused() -> None:
    with pytest.raises(KeyError):
        normalise(ccxt_structure(), venue="okx", symbol="BTCUSDT")


@given(
    price=st.floats(1e-6, 1e7, allow_nan=False), contracts=st.floats(1e-6, 1e6, allow_nan=False),
    time_ms=st.integers(1, 2**45), side=st.sampled_from(["buy", "sell", "BUY", "Sell"]),
    venue=st.sampled_from(["binanceusdm", "bybit"]),
)
@settings(max_examples=200, deadline=None)
def test_notional_is_price_times_quantity_and_the_event_round_trips(
    price: float, contracts: float, time_ms: int, side: str, venue: str
) -> None:
    raw = ccxt_structure(price=price, contracts=contracts, timestamp=time_ms, side=side)
    event = normalise(raw, venue=venue, symbol="BTCUSDT")
    assert math.isclose(event.notional_quote, price * contracts, rel_tol=1e-12)
    assert LiquidationEvent.from_dict(event.to_dict()) == event
    assert event.event_id == normalise(dict(raw), venue=venue, symbol="BTCUSDT").event_id


def test_the_event_id_changes_with_every_identifying_field() -> None:
    base = ("binanceusdm", "BTCUSDT", 1000, "long", 100.0, 1.0)
    variants = [
        ("bybit", *base[1:]), (base[0], "ETHUSDT", *base[2:]), (*base[:2], 1001, *base[3:]),
        (*base[:3], "short", *base[4:]), (*base[:4], 100.01, base[5]), (*base[:5], 1.001),
    ]
    ids = {event_id(*base), *(event_id(*v) for v in variants)}
    assert len(ids) == len(variants) + 1
