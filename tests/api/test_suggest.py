"""/suggest/stop and /suggest/take-profit on replayed real data in a real redis-server."""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]


@pytest.fixture
async def client(redis_client: Redis):
    config = Settings(_env_file=None, symbols=",".join(SYMBOLS), windows="1d,7d")
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(720, SYMBOLS), store, config).tick()).failed == {}
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app) as c:
        yield c


async def the_map(client, symbol="BTCUSDT", window="7d") -> dict:
    return (await client.get(f"/map/{symbol}", params={"window": window})).json()


@pytest.mark.parametrize("side", ["long", "short"])
async def test_stop_beyond_the_nearest_cluster_that_matters(client, side) -> None:
    doc = await the_map(client)
    response = await client.post("/suggest/stop", json={"symbol": "BTCUSDT", "side": side})
    assert response.status_code == 200, response.text
    body = response.json()
    price, stop = doc["price"], body["stop_price"]
    assert body["entry_price"] == price and body["no_stop_reason"] is None
    assert (stop < price) if side == "long" else (stop > price)
    assert not [c for c in doc["clusters"] if c["price_low"] < stop < c["price_high"]]
    rule = body["clusters_that_matter"]
    assert (rule["min_intensity"], rule["reach_atr"]) == (0.5, 4.0)  # the backtest's choice
    assert rule["reach_quote"] == pytest.approx(4 * body["buffer"]["atr"])

    def near(c: dict) -> float:
        return price - c["price_high"] if side == "long" else c["price_low"] - price

    matter = sorted((c for c in doc["clusters"] if c["side"] == side
                     and c["intensity"] >= 0.5 and near(c) <= rule["reach_quote"]), key=near)
    if matter:
        far = matter[0]["price_low"] if side == "long" else matter[0]["price_high"]
        assert (stop < far) if side == "long" else (stop > far)
        assert matter[0]["rank"] in [c["rank"] for c in body["avoided_clusters"]]
    else:  # 1 ATR away, or just past the cluster that level fell in
        atr = body["buffer"]["atr"]
        level = price - atr if side == "long" else price + atr
        if abs(abs(stop - price) - atr) > 0.1:
            assert [c for c in doc["clusters"] if c["price_low"] < level < c["price_high"]]
        assert "no cluster that matters" in body["rationale"]
    assert body["buffer"]["atr"] > 0 and body["buffer"]["overshoot_pct"] >= 0
    assert [a["label"] for a in body["alternatives"]] == ["tight", "standard", "wide"]
    assert body["book_source"].startswith("recorded:binanceusdm:BTCUSDT")
    assert body["map"]["version"] == doc["version"] and body["map"]["stale"] is False
    assert body["fits_risk"] is True and "cluster" in body["rationale"]


async def test_stop_with_risk_budget_and_tight_max_loss(client) -> None:
    body = (await client.post("/suggest/stop", json={
        "symbol": "ETHUSDT", "side": "long", "risk_usd": 1000, "window": "1d"})).json()
    entry, stop = body["entry_price"], body["stop_price"]
    assert body["suggested_quantity"] * (entry - stop) == pytest.approx(1000, rel=1e-3)
    tight = (await client.post("/suggest/stop", json={
        "symbol": "ETHUSDT", "side": "long", "quantity": 10, "window": "1d",
        "max_loss_pct": body["distance_pct"] / 4})).json()
    assert tight["fits_risk"] is False
    assert tight["distance_pct"] <= body["distance_pct"] / 4 + 1e-9
    assert tight["suggested_quantity"] < 10
    assert "max loss" in tight["rationale"]


async def test_take_profit_zones_sum_to_one_in_front_of_clusters(client) -> None:
    doc = await the_map(client)
    body = (await client.post("/suggest/take-profit", json={
        "symbol": "BTCUSDT", "side": "long", "quantity": 2.0})).json()
    zones = body["zones"]
    assert zones and len(zones) <= 3
    assert sum(z["size_fraction"] for z in zones) == pytest.approx(1.0)
    assert sum(z["quantity"] for z in zones) == pytest.approx(2.0)
    for zone in zones:
        assert zone["cluster"]["side"] == "short"
        assert doc["price"] < zone["target_price"] <= zone["price_low"]


async def test_stale_map_is_503(client, redis_client: Redis) -> None:
    old = int(time.time() * 1000) - 120_000
    await redis_client.hset("execsvc:map:hyperliquid:BTCUSDT:7d", "computed_at_ms", old)
    await redis_client.hincrby("execsvc:map:hyperliquid:BTCUSDT:7d", "version", 1)
    response = await client.post("/suggest/stop", json={"symbol": "BTCUSDT", "side": "long"})
    assert response.status_code == 503
    assert response.json()["reason"] == "map_stale"


@pytest.mark.parametrize(("body", "field"), [
    ({"symbol": "BTCUSDT", "side": "flat"}, "body.side"),
    ({"symbol": "BTCUSDT", "side": "long", "quantity": -1}, "body.quantity"),
    ({"symbol": "BTCUSDT", "side": "long", "quantity": 0}, "body.quantity"),
    ({"symbol": "BTCUSDT", "side": "long", "entry_price": "NaN"}, "body.entry_price"),
    ({"symbol": "BTCUSDT", "side": "long", "max_loss_pct": 150}, "body.max_loss_pct"),
    ({"symbol": "BTCUSDT", "side": "long", "window": "2w"}, "body.window"),
    ({"symbol": "BTCUSDT", "side": "long", "stop": 1}, "body.stop"),
    ({"side": "long"}, "body.symbol"),
])
async def test_bad_input_is_422_naming_the_field(client, body, field) -> None:
    response = await client.post("/suggest/stop", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_infinity_in_raw_json_is_422(client) -> None:
    raw = b'{"symbol": "BTCUSDT", "side": "long", "entry_price": Infinity}'
    response = await client.post("/suggest/stop", content=raw,
                                 headers={"content-type": "application/json"})
    assert response.status_code == 422


async def test_unknown_symbol_is_404(client) -> None:
    response = await client.post("/suggest/take-profit", json={"symbol": "XRPUSDT", "side": "long"})
    assert response.status_code == 404


finite = st.floats(allow_nan=True, allow_infinity=True)
bodies = st.fixed_dictionaries(
    {"symbol": st.sampled_from(["BTCUSDT", "ETHUSDT", "BTC-PERP", "btcusdt", "NOPE", ""]),
     "side": st.sampled_from(["long", "short", "buy"])},
    optional={"entry_price": finite, "quantity": finite, "risk_usd": finite,
              "max_loss_pct": finite, "window": st.sampled_from(["1d", "7d", "30d", "x"])},
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, path=st.sampled_from(["/suggest/stop", "/suggest/take-profit"]))
async def test_no_request_body_gives_a_server_error(client, body, path) -> None:
    if path.endswith("take-profit"):
        body = {k: v for k, v in body.items() if k not in ("risk_usd", "max_loss_pct")}
    payload = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in body.items()}
    response = await client.post(path, json=payload)
    assert response.status_code in (200, 404, 422), response.text


@pytest.mark.parametrize("strategy", ["auto", "twap", "almgren_chriss", "pov"])
async def test_slice_children_sum_exactly_and_beat_one_market_order(client, strategy) -> None:
    response = await client.post("/suggest/slice", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 120.0, "horizon_s": 900,
        "strategy": strategy, "max_participation": 0.5})
    assert response.status_code == 200, response.text
    body = response.json()
    children = body["children"]
    assert sum(round(c["quantity"] * 1000) for c in children) == 120_000  # lots of 0.001
    assert all(len(repr(c["quantity"]).split(".")[-1]) <= 3 for c in children)
    assert all(c["quantity"] > 0 and c["reason"] for c in children)
    assert [c["t_offset_s"] for c in children] == sorted(c["t_offset_s"] for c in children)
    slippage = body["slippage"]
    assert slippage["plan_if_limits_unfilled_bps"] <= slippage["market_order_bps"]
    assert slippage["twap_bps"] < slippage["market_order_bps"]
    assert body["book_source"].startswith("recorded:binanceusdm:BTCUSDT")
    assert body["calibration"]["eta"] > 0 and body["calibration"]["sigma_quote_per_sqrt_s"] > 0
    if strategy != "auto":
        assert body["strategy_used"] == strategy


async def test_slice_for_a_symbol_without_a_recorded_book_says_so(client) -> None:
    body = (await client.post("/suggest/slice", json={
        "symbol": "ETHUSDT", "side": "sell", "quantity": 500, "horizon_s": 300})).json()
    assert body["book_source"].startswith("profile:BTCUSDT->ETHUSDT")
    assert sum(round(c["quantity"] * 1000) for c in body["children"]) == 500_000


@pytest.mark.parametrize(("body", "field"), [
    ({"quantity": 0}, "body.quantity"),
    ({"quantity": -5}, "body.quantity"),
    ({"horizon_s": 0}, "body.horizon_s"),
    ({"strategy": "vwap"}, "body.strategy"),
    ({"side": "long"}, "body.side"),
    ({"max_participation": 1.5}, "body.max_participation"),
    ({"risk_aversion": -1}, "body.risk_aversion"),
    ({"quantity": "NaN"}, "body.quantity"),
])
async def test_slice_bad_input_names_the_field(client, body, field) -> None:
    request = {"symbol": "BTCUSDT", "side": "buy", "quantity": 10, "horizon_s": 60, **body}
    response = await client.post("/suggest/slice", json=request)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


slice_bodies = st.fixed_dictionaries(
    {"symbol": st.sampled_from(["BTCUSDT", "BTC-PERP", "NOPE"]),
     "side": st.sampled_from(["buy", "sell", "long"]),
     "quantity": st.one_of(finite, st.floats(1e-9, 1e6)),
     "horizon_s": st.one_of(finite, st.floats(1e-3, 1e6))},
    optional={"strategy": st.sampled_from(["auto", "twap", "almgren_chriss", "pov", "x"]),
              "risk_aversion": finite, "max_participation": finite},
)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=slice_bodies)
async def test_no_slice_request_gives_a_server_error(client, body) -> None:
    payload = {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in body.items()}
    response = await client.post("/suggest/slice", json=payload)
    assert response.status_code in (200, 404, 422), response.text
    if response.status_code == 200:
        answer = response.json()
        lot = answer["precision"]["lot_size"]
        assert sum(round(c["quantity"] / lot) for c in answer["children"]) == round(
            payload["quantity"] / lot)


@pytest.mark.parametrize("path", ["/suggest/stop", "/suggest/take-profit"])
async def test_entry_far_from_the_map_is_422(client, path) -> None:
    doc = await the_map(client)
    for entry in (1e-300, doc["price"] * 2, doc["price"] * 0.5):
        response = await client.post(path, json={"symbol": "BTCUSDT", "side": "long",
                                                 "entry_price": entry})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "body.entry_price"
    far = round(doc["price"] * 1.5, 2) + 0.05  # more digits than :g keeps
    response = await client.post(path, json={"symbol": "BTCUSDT", "side": "long",
                                             "entry_price": far})
    assert f"entry_price {far!r} is outside" in response.json()["detail"]


async def test_a_source_that_stops_delivering_candles_makes_the_map_stale(
    client, redis_client
) -> None:
    """Recomputed on time, but from candles that stopped arriving: stale, and no advice."""
    key = "execsvc:map:hyperliquid:BTCUSDT:7d"
    document = json.loads(await redis_client.hget(key, "doc"))
    document["stats"]["data_lag_s"] = 3 * 3600 + 31
    # as the worker stores it: the lag in the document and beside it (read without a parse)
    await redis_client.hset(key, mapping={"doc": json.dumps(document),
                                          "data_lag_s": document["stats"]["data_lag_s"]})
    await redis_client.hincrby(key, "version", 1)
    assert (await client.get("/map/BTCUSDT")).json()["stale"] is True
    response = await client.post("/suggest/stop", json={"symbol": "BTCUSDT", "side": "long"})
    assert response.status_code == 503 and response.json()["reason"] == "data_stale"


# ---- advice v2: the position, the grid, and what /risk/check says of the answer -------------


async def test_served_maps_have_no_overlapping_clusters(client) -> None:
    for symbol in SYMBOLS:
        for window in ("1d", "7d"):
            doc = await the_map(client, symbol, window)
            for side in ("long", "short"):
                own = sorted((c for c in doc["clusters"] if c["side"] == side),
                             key=lambda c: c["price_low"])
                assert all(a["price_high"] <= b["price_low"]
                           for a, b in itertools.pairwise(own))


async def test_a_20x_long_gets_a_stop_inside_its_liquidation_price(client) -> None:
    """The issue's case on the replayed BTCUSDT map: a 20x long's stop lies between the entry
    and the liquidation price (or the answer says none can), on the 0.1 tick, and the risk
    check agrees with it."""
    doc = await the_map(client)
    body = (await client.post("/suggest/stop", json={
        "symbol": "BTCUSDT", "side": "long", "leverage": 20, "quantity": 0.5})).json()
    liquidation = body["liquidation_price"]
    assert liquidation is not None and liquidation < doc["price"]
    assert body["precision"]["tick_size"] == 0.1 and body["precision"]["lot_size"] == 0.001
    if body["stop_price"] is None:
        assert body["fits_liquidation"] is False and "no stop can be given" in body["rationale"]
        return
    assert liquidation < body["stop_price"] < doc["price"]
    assert all(liquidation < a["stop_price"] for a in body["alternatives"])
    if not body["fits_liquidation"]:
        assert body["suggested_leverage"] < 20 and "liquidated at" in body["rationale"]
    check = (await client.post("/risk/check", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 0.5, "leverage": 20,
        "stop_price": body["stop_price"]})).json()
    codes = [v["code"] for v in check["violations"]]
    assert "STOP_BEYOND_LIQUIDATION" not in codes and "STOP_INSIDE_CLUSTER" not in codes
    beyond = (await client.post("/risk/check", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 0.5, "leverage": 20,
        "stop_price": round(liquidation - 100, 1)})).json()
    assert beyond["allowed"] is False
    assert "STOP_BEYOND_LIQUIDATION" in [v["code"] for v in beyond["violations"]]


def decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(symbol=st.sampled_from(["BTCUSDT", "ETHUSDT", "BTC-PERP"]),
       side=st.sampled_from(["long", "short", "buy", "sell"]),
       leverage=st.one_of(st.none(), st.floats(1, 100)),
       quantity=st.one_of(st.none(), st.floats(0.001, 50)),
       losses=st.lists(st.floats(0.2, 20), min_size=2, max_size=3))
async def test_stop_properties_through_the_api(client, symbol, side, leverage, quantity,
                                               losses) -> None:
    """Never inside a cluster, on the losing side and the tick, inside the liquidation price,
    accepted by /risk/check's cluster and liquidation rules; loosening max_loss_pct never turns
    fits_risk from true to false."""
    doc = await the_map(client, symbol)
    tick = doc["precision"]["tick_size"]
    answers = []
    for loss in sorted(losses):
        request = {"symbol": symbol, "side": side, "max_loss_pct": loss}
        if leverage is not None:
            request["leverage"] = leverage
        if quantity is not None:
            request["quantity"] = quantity
        response = await client.post("/suggest/stop", json=request)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    fits = [a["fits_risk"] for a in answers]
    assert fits == sorted(fits)
    long = side in ("long", "buy")
    for body in answers:
        assert body["side"] == ("long" if long else "short")
        levels = [a["stop_price"] for a in body["alternatives"]]
        if body["stop_price"] is not None:
            levels.append(body["stop_price"])
        for level in levels:
            assert not [c for c in doc["clusters"] if c["price_low"] < level < c["price_high"]]
            assert (level < doc["price"]) if long else (level > doc["price"])
            assert abs(level / tick - round(level / tick)) < 1e-6
            assert decimals(level) <= max(0, decimals(tick))
            if body["liquidation_price"] is not None:
                assert (level > body["liquidation_price"]) if long else (
                    level < body["liquidation_price"])
        if body["stop_price"] is not None and leverage is not None and leverage <= 20:
            check = (await client.post("/risk/check", json={
                "symbol": symbol, "side": "buy" if long else "sell",
                "quantity": quantity or 0.01, "leverage": leverage,
                "stop_price": body["stop_price"]})).json()
            codes = [v["code"] for v in check["violations"]]
            assert "STOP_INSIDE_CLUSTER" not in codes and "STOP_BEYOND_LIQUIDATION" not in codes


async def test_tight_standard_and_wide_are_distinct_on_the_replayed_maps(client) -> None:
    for symbol in SYMBOLS:
        for side in ("long", "short"):
            body = (await client.post("/suggest/stop", json={
                "symbol": symbol, "side": side})).json()
            prices = [a["stop_price"] for a in body["alternatives"]]
            assert len(set(prices)) == 3, (symbol, side, body["alternatives"])


async def test_risk_quote_and_its_alias_and_the_margin_fields(client) -> None:
    quote = (await client.post("/suggest/stop", json={
        "symbol": "BTCUSDT", "side": "long", "risk_quote": 500})).json()
    alias = (await client.post("/suggest/stop", json={
        "symbol": "BTCUSDT", "side": "long", "risk_usd": 500})).json()
    assert quote["suggested_quantity"] == alias["suggested_quantity"] > 0
    for bad, field in (
        ({"risk_quote": 5, "risk_usd": 5}, "body.risk_usd"),
        ({"margin_mode": "cross"}, "body.margin_mode"),
        ({"leverage": 10, "account_equity_quote": 1000}, "body.account_equity_quote"),
        ({"leverage": 500}, "body.leverage"),
    ):
        response = await client.post("/suggest/stop", json={
            "symbol": "BTCUSDT", "side": "long", **bad})
        assert response.status_code == 422, (bad, response.text)
        assert field in [e["field"] for e in response.json()["errors"]]
    cross = (await client.post("/suggest/stop", json={
        "symbol": "BTCUSDT", "side": "sell", "leverage": 20, "margin_mode": "cross",
        "account_equity_quote": 2000, "quantity": 1})).json()
    assert cross["side"] == "short" and cross["liquidation_price"] > cross["entry_price"]


async def test_take_profit_zones_nearest_first_on_tick_and_lot(client) -> None:
    body = (await client.post("/suggest/take-profit", json={
        "symbol": "ETHUSDT", "side": "buy", "quantity": 7.777, "max_zones": 4,
        "leverage": 10})).json()
    zones = body["zones"]
    assert zones and body["side"] == "long" and body["liquidation_price"] < body["entry_price"]
    assert [z["distance_pct"] for z in zones] == sorted(z["distance_pct"] for z in zones)
    assert round(sum(z["quantity"] for z in zones) * 1000) == 7777
    for zone in zones:
        assert decimals(zone["target_price"]) <= 2 and decimals(zone["quantity"]) <= 3


async def test_slice_says_why_a_plan_costs_more_than_twap_and_flags_extrapolation(client) -> None:
    """The issue's case: 200 BTC over 6 h, where Almgren-Chriss front-loads."""
    body = (await client.post("/suggest/slice", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 200, "horizon_s": 21_600})).json()
    slippage = body["slippage"]
    assert body["calibration"]["book_half_life_s"] == pytest.approx(1.667, abs=0.001)
    if slippage["plan_bps"] > slippage["twap_bps"]:
        why = [n for n in body["notes"] if "more than TWAP" in n]
        assert why and "timing risk" in why[0] and "risk aversion" in why[0]
        assert slippage["plan_timing_risk_quote"] < slippage["twap_timing_risk_quote"]
    else:
        assert not [n for n in body["notes"] if "more than TWAP" in n]
    huge = (await client.post("/suggest/slice", json={
        "symbol": "BTCUSDT", "side": "sell", "quantity": 3000, "horizon_s": 600})).json()
    assert huge["slippage"]["market_order_extrapolated"] is True
    assert any("extrapolated" in n for n in huge["notes"])
    off_lot = await client.post("/suggest/slice", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": 10.0005, "horizon_s": 600})
    assert off_lot.status_code == 422 and "nearest: 10" in off_lot.text
    assert [e["field"] for e in off_lot.json()["errors"]] == ["body.quantity"]


@pytest.mark.parametrize(("quantity", "message"), [
    (0.0001, "quantity: 0.0001 is below the lot size 0.001 base"),
    (2.0005, "quantity: 2.0005 is not a multiple of the lot 0.001 base (nearest: 2.001)"),
    (2.0004, "quantity: 2.0004 is not a multiple of the lot 0.001 base (nearest: 2)"),
])
async def test_take_profit_quantity_off_the_lot_is_422_quoting_it_and_the_nearest(
        client, quantity, message) -> None:
    """Below one lot every zone came back with quantity 0.0; off the lot grid the zones summed
    to the quantity rounded down (2.0005 -> 2.0), not to the quantity sent. Both are refused as
    `/suggest/slice` refuses them (the same check), before any zone is computed."""
    response = await client.post("/suggest/take-profit", json={
        "symbol": "BTCUSDT", "side": "long", "quantity": quantity})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "body.quantity", "message": message}]
    slice_ = await client.post("/suggest/slice", json={
        "symbol": "BTCUSDT", "side": "buy", "quantity": quantity, "horizon_s": 600})
    assert slice_.status_code == 422
    assert slice_.json()["errors"] == [{"field": "body.quantity", "message": message}]


async def test_take_profit_zone_quantities_sum_exactly_to_a_whole_lot_quantity(client) -> None:
    body = (await client.post("/suggest/take-profit", json={
        "symbol": "BTCUSDT", "side": "long", "quantity": 2.001, "max_zones": 5})).json()
    assert body["zones"] and all(z["quantity"] > 0 for z in body["zones"])
    assert sum(round(z["quantity"] * 1000) for z in body["zones"]) == 2001


async def test_no_stop_for_a_200x_btc_perp_long_says_the_liquidation_price_is_too_near(
        client) -> None:
    """The reported case: a 200x long is liquidated about 38 USD below the entry, nearer than
    the 0.25 ATR a stop must trigger before it; the entry sits in no cluster, yet the rationale
    said "every level inside the liquidation price lies in the cluster the entry sits in"."""
    body = (await client.post("/suggest/stop", json={
        "symbol": "BTC-PERP", "side": "long", "leverage": 200})).json()
    entry, liquidation = body["entry_price"], body["liquidation_price"]
    assert body["stop_price"] is None and body["fits_liquidation"] is False
    assert body["no_stop_reason"] == "within_gap"
    doc = await the_map(client, "BTC-PERP")
    assert not [c for c in doc["clusters"] if c["price_low"] <= entry <= c["price_high"]]
    gap = 0.25 * body["buffer"]["atr"]
    assert 0 < entry - liquidation < gap
    rationale = body["rationale"]
    assert "cluster the entry sits in" not in rationale
    assert f"nearer than the 0.25 ATR ({gap:,.4g} USD) a stop must trigger" in rationale
    assert rationale.endswith("so no stop can be given: lower the leverage.")
    assert body["suggested_leverage"] is not None and body["suggested_leverage"] < 200


async def test_no_stop_for_a_cross_long_liquidated_above_its_entry_says_so(client) -> None:
    """3000 USDC of equity does not carry 5 BTC at the entry: the liquidation price lies above
    the long's entry. A lower leverage changes nothing on cross."""
    body = (await client.post("/suggest/stop", json={
        "symbol": "BTCUSDT", "side": "long", "quantity": 5, "leverage": 10,
        "margin_mode": "cross", "account_equity_quote": 3000})).json()
    assert body["stop_price"] is None and body["liquidation_price"] > body["entry_price"]
    assert body["no_stop_reason"] == "liquidated_at_once"
    rationale = body["rationale"]
    assert "lower the leverage" not in rationale and "cluster the entry sits in" not in rationale
    assert ("above the entry: the account's equity (3,000.00 USDC) does not cover the "
            "maintenance margin even at the entry, so it would be liquidated at once and no "
            "stop can be given: add equity or reduce the size") in rationale
    assert 0 < body["suggested_quantity"] < 5
