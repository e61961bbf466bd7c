"""Numeric inputs are bounded (issue 10, finding 5): anything beyond a field's bound is a 422
naming the field, and anything within the bounds, extremes included, answers with finite
numbers (never null, inf or NaN where a number belongs)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from execsvc.api import bounds
from execsvc.api.schemas import (
    RiskCheckResponse,
    SliceResponse,
    StopResponse,
    TakeProfitResponse,
)
from execsvc.domain.units import MarketPrecision
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client

KEY = "bounds-key-0123456789abcdef"


@pytest.fixture
async def client(redis_client: Redis):
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d", api_keys=KEY,
                      paper_starting_balance_quote=1e9)
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, ["BTCUSDT"]), store, config).tick()).failed == {}
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app) as c:
        yield c


def within(low: float, high: float) -> st.SearchStrategy[float]:
    """Values from `low` to `high`, the bounds themselves often, log-uniform in between."""
    inside = st.floats(math.log10(low), math.log10(high)).map(lambda e: min(high, max(low,
                                                                                     10 ** e)))
    return st.one_of(st.sampled_from([low, high]), inside)


def finite_numbers(value: Any, path: str = "") -> None:
    if isinstance(value, float):
        assert math.isfinite(value), f"{path} = {value}"
    elif isinstance(value, dict):
        for key, item in value.items():
            finite_numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_numbers(item, f"{path}[{index}]")


QUANTITY = within(bounds.MIN_QUANTITY, bounds.MAX_QUANTITY)
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(side=st.sampled_from(["long", "short"]), quantity=st.none() | QUANTITY,
       risk=st.none() | within(bounds.MIN_QUOTE, bounds.MAX_QUOTE),
       loss=st.none() | within(bounds.MIN_LOSS_PCT, bounds.MAX_LOSS_PCT))
async def test_stop_answers_are_finite_at_every_bound(client, side, quantity, risk,
                                                      loss) -> None:
    body = {"symbol": "BTCUSDT", "side": side, "quantity": quantity, "risk_usd": risk,
            "max_loss_pct": loss}
    response = await client.post("/suggest/stop",
                                 json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 200, response.text
    answer = response.json()
    StopResponse.model_validate(answer)
    finite_numbers(answer)
    if quantity is not None:
        assert answer["loss_at_stop_quote"] is not None
    if risk is not None:  # whole lots: a risk too small for one lot suggests 0
        assert answer["suggested_quantity"] is not None and answer["suggested_quantity"] >= 0
    assert answer["stop_price"] != answer["entry_price"], "a stop is never at the entry"


BTC_LOT = 0.001
WHOLE_LOTS = st.integers(1, round(bounds.MAX_QUANTITY / BTC_LOT)).map(lambda n: n * BTC_LOT)
"""BTCUSDT quantities that are whole lots (the replayed map's lot is 0.001)."""


@SLOW
@given(quantity=st.none() | QUANTITY | WHOLE_LOTS, zones=st.integers(1, 10))
async def test_take_profit_answers_are_finite(client, quantity, zones) -> None:
    """Finite numbers for every quantity of whole lots; any other is a 422 naming it (a
    quantity below one lot or off the lot grid cannot be split into zones summing to it)."""
    body = {"symbol": "BTCUSDT", "side": "long", "max_zones": zones}
    if quantity is not None:
        body["quantity"] = quantity
    response = await client.post("/suggest/take-profit", json=body)
    whole = quantity is None or (quantity >= BTC_LOT and MarketPrecision(
        0.1, BTC_LOT).on_lot_grid(quantity))
    if not whole:
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body.quantity"]
        return
    assert response.status_code == 200, response.text
    assert response.json()["precision"]["lot_size"] == BTC_LOT
    TakeProfitResponse.model_validate(response.json())
    finite_numbers(response.json())


@SLOW
@given(side=st.sampled_from(["buy", "sell"]), quantity=QUANTITY,
       horizon=within(bounds.MIN_HORIZON_S, bounds.MAX_HORIZON_S),
       strategy=st.sampled_from(["auto", "twap", "almgren_chriss", "pov"]),
       aversion=st.none() | st.sampled_from([0.0, 1e-9, 1e-6, 1.0]),
       participation=st.none() | within(bounds.MIN_FRACTION, bounds.MAX_FRACTION))
async def test_slice_answers_are_finite(client, side, quantity, horizon, strategy, aversion,
                                        participation) -> None:
    body = {"symbol": "BTCUSDT", "side": side, "quantity": quantity, "horizon_s": horizon,
            "strategy": strategy, "risk_aversion": aversion,
            "max_participation": participation}
    response = await client.post("/suggest/slice",
                                 json={k: v for k, v in body.items() if v is not None})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        SliceResponse.model_validate(response.json())
        finite_numbers(response.json())
    else:
        assert response.json()["errors"][0]["field"].startswith("body.")


@SLOW
@given(quantity=QUANTITY, price=st.none() | within(bounds.MIN_PRICE, bounds.MAX_PRICE),
       leverage=within(bounds.MIN_LEVERAGE, bounds.MAX_LEVERAGE))
async def test_risk_check_answers_are_finite(client, quantity, price, leverage) -> None:
    body = {"symbol": "BTCUSDT", "side": "buy", "quantity": quantity, "leverage": leverage}
    if price is not None:
        body["price"] = price
    response = await client.post("/risk/check", json=body)
    assert response.status_code == 200, response.text
    RiskCheckResponse.model_validate(response.json())
    finite_numbers(response.json())


@SLOW
@given(quantity=QUANTITY, leverage=within(bounds.MIN_LEVERAGE, bounds.MAX_LEVERAGE))
async def test_paper_orders_answer_finite_numbers(client, quantity, leverage) -> None:
    body = {"client_order_id": f"b-{quantity!r}-{leverage!r}"[:36].replace("+", "p"),
            "symbol": "BTCUSDT", "side": "buy", "type": "market", "quantity": quantity,
            "leverage": leverage}
    response = await client.post("/orders", json=body, headers={"X-API-Key": KEY})
    assert response.status_code in (200, 201, 422), response.text
    finite_numbers(response.json())
    if response.status_code == 201:
        assert response.json()["status"] in ("filled", "partially_filled", "rejected",
                                              "expired")


OUT_OF_BOUNDS = [
    ("/suggest/stop", {"side": "long"}, "quantity", bounds.MIN_QUANTITY / 2),
    ("/suggest/stop", {"side": "long"}, "quantity", 5e-324),
    ("/suggest/stop", {"side": "long"}, "quantity", 1e306),
    ("/suggest/stop", {"side": "long"}, "risk_usd", 1e308),
    ("/suggest/stop", {"side": "long"}, "risk_usd", bounds.MIN_QUOTE / 2),
    ("/suggest/stop", {"side": "long"}, "max_loss_pct", 1e-300),
    ("/suggest/stop", {"side": "long"}, "max_loss_pct", 100.0),
    ("/suggest/stop", {"side": "long"}, "entry_price", 5e-324),
    ("/suggest/take-profit", {"side": "long"}, "quantity", 1e300),
    ("/suggest/slice", {"side": "buy", "horizon_s": 60}, "quantity", 2e9),
    ("/suggest/slice", {"side": "buy", "quantity": 1}, "horizon_s", 0.5),
    ("/suggest/slice", {"side": "buy", "quantity": 1, "horizon_s": 60}, "max_participation",
     1e-300),
    ("/risk/check", {"side": "buy", "quantity": 1}, "price", 1e12),
    ("/risk/check", {"side": "buy", "quantity": 1}, "leverage", 500.0),
    ("/orders", {"client_order_id": "oob", "side": "buy", "type": "limit", "quantity": 1},
     "price", 5e-324),
    ("/orders", {"client_order_id": "oob", "side": "buy", "type": "market"}, "quantity",
     5e-324),
]


@pytest.mark.parametrize(("path", "body", "field", "value"), OUT_OF_BOUNDS)
async def test_a_number_beyond_its_bound_is_422_naming_it(client, path, body, field,
                                                           value) -> None:
    response = await client.post(path, json={"symbol": "BTCUSDT", **body, field: value},
                                 headers={"X-API-Key": KEY})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]
