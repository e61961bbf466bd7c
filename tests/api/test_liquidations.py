"""Realised liquidations over HTTP: `/liquidations/{symbol}`, `/liquidations/{symbol}/bands`, the
online score in `/model` and `/metrics`.

End to end as `execsvc serve` runs it (uvicorn, the app's lifespan running the worker and the
liquidation ingest): real ccxt against the local Binance REST server and the local liquidation
websocket server, a real redis-server. In replay mode the routes say there is no source.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from execsvc.api.schemas import LiquidationBandsResponse, LiquidationsResponse, OnlineScore
from execsvc.domain.liquidations import SAMPLING_NOTES
from execsvc.maps.worker import MapWorker
from execsvc.market.liquidation_feed import Backoff, FeedStatus
from execsvc.market.replay import ReplaySource
from execsvc.runtime import ccxt_source, make_app, make_liquidation_ingest, make_worker
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.liquidation_store import LiquidationStore
from tests.support.apps import asgi_client
from tests.support.binance_stub import BinanceStub
from tests.support.liquidation_streams import LiquidationStreams, binance_force_order
from tests.support.live_server import LiveServer
from tests.support.redis_server import RedisServer


def live_settings(**overrides: Any) -> Settings:
    base = {"source": "ccxt", "symbols": "BTCUSDT", "windows": "7d", "ccxt_timeframe": "5m",
            "liquidation_heartbeat_s": 0.2, "refresh_interval_s": 2.0}
    return Settings(_env_file=None, **{**base, **overrides})


async def poll(client: httpx.AsyncClient, path: str, done, timeout_s: float = 20.0,
               **params: Any) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(path, params=params)
        if done(response):
            return response
        assert time.monotonic() < deadline, f"{path}: {response.status_code} {response.text}"
        await asyncio.sleep(0.1)


async def test_a_local_stream_reaches_the_api_the_model_and_the_metrics(
    binance_stub: BinanceStub, streams: LiquidationStreams, redis_server: RedisServer
) -> None:
    settings = live_settings()
    flusher = Redis.from_url(redis_server.url)
    await flusher.flushall()
    await flusher.aclose()
    # the app's store is first used on the server's own loop (a connection is bound to one)
    store = BandStore(Redis.from_url(redis_server.url))
    worker = make_worker(settings, store, source=ccxt_source(settings,
                                                             base_url=binance_stub.base_url))
    ingest = make_liquidation_ingest(
        settings, store, rest_origin=binance_stub.base_url,
        urls_override={"ws": {"linear": streams.binance_ws_url}},
        backoff=Backoff(0.05, 0.5, rng=random.Random(5)))
    app = make_app(settings, with_worker=True, store=store, worker=worker, ingest=ingest)
    with LiveServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            document = (await poll(client, "/map/BTCUSDT", lambda r: r.status_code == 200,
                                   window="7d")).json()
            deadline = time.monotonic() + 20
            while not streams.subscribed("binance", "BTCUSDT"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            price = document["price"]
            start = int(time.time() * 1000) + 100
            frames = [binance_force_order("BTCUSDT", side, round(price * factor, 1), 0.2,
                                          start + k * 1000)
                      for k, (side, factor) in enumerate([
                          ("SELL", 0.996), ("SELL", 0.99), ("BUY", 1.004), ("BUY", 1.02),
                          ("SELL", 0.985)])]
            for frame in frames[:3]:
                streams.publish("binance", "BTCUSDT", frame)
            await poll(client, "/liquidations/BTCUSDT",
                       lambda r: r.status_code == 200 and r.json()["count"] == 3)
            streams.drop_connections("binance")
            streams.publish("binance", "BTCUSDT", frames[2])  # again after the reconnect
            for frame in frames[3:]:
                streams.publish("binance", "BTCUSDT", frame)
            answer = (await poll(client, "/liquidations/BTCUSDT",
                                 lambda r: r.json()["count"] == 5 and
                                 r.json()["feed"]["reconnects"] == 1)).json()
            await asyncio.sleep(0.5)  # the duplicate, if it were stored, would be by now
            again = (await client.get("/liquidations/BTCUSDT")).json()
            bands = (await client.get("/liquidations/BTCUSDT/bands",
                                      params={"window": "7d"})).json()
            model = (await client.get("/model")).json()
            metrics = (await client.get("/metrics")).text
            page = (await client.get("/liquidations/BTCUSDT",
                                     params={"since": start, "limit": 2})).json()

    # the app's shutdown closed the worker's ccxt client (no "Unclosed client session")
    (source,) = worker.sources.values()
    assert source._exchange.closed_by_user and source._exchange.session is None
    LiquidationsResponse.model_validate(answer)
    assert again["count"] == 5, "the re-sent event was dropped as a duplicate"
    events = answer["liquidations"]
    assert [e["time_ms"] for e in events] == [start + k * 1000 for k in range(5)]
    assert [e["side"] for e in events] == ["long", "long", "short", "short", "long"]
    assert all(e["map"]["window"] == "7d" and e["score"] is not None for e in events)
    assert [e["score"]["side_match"] for e in events] == [True] * 5
    feed = answer["feed"]
    assert feed["state"] == "connected" and feed["sampled"] is True
    assert feed["sampling_note"] == SAMPLING_NOTES["binanceusdm"]
    assert len(answer["gaps"]) == 1 and "NetworkError" in answer["gaps"][0]["reason"]

    assert page["count"] == 2 and page["truncated"] is True
    assert page["next_since_ms"] == start + 1000 + 1

    LiquidationBandsResponse.model_validate(bands)
    totals = bands["totals"]
    longs = sum(e["notional_quote"] for e in events if e["side"] == "long")
    shorts = sum(e["notional_quote"] for e in events if e["side"] == "short")
    in_bands = sum(b["realised_long_notional_quote"] for b in bands["bands"])
    assert totals["realised_long_notional_quote"] == pytest.approx(in_bands)
    assert in_bands + totals["below_range_long_notional_quote"] + totals[
        "above_range_long_notional_quote"] == pytest.approx(longs, abs=0.05)
    assert totals["realised_short_count"] + 0 == 2 and shorts > 0
    assert len(bands["bands"]) == len(document["bands"])

    score = model["online_score"]
    OnlineScore.model_validate(score)
    assert score["available"] is True and score["map_window"] == "7d"
    summary = score["symbols"]["BTCUSDT"]
    assert summary["events"] == 5 and summary["scored_events"] == 5
    assert summary["side_match_rate"] == 1.0
    assert summary["realised_notional_quote"] == pytest.approx(longs + shorts, abs=0.05)
    assert 'execsvc_liquidation_feed_up{exchange="binanceusdm"} 1.0' in metrics
    assert 'execsvc_liquidations_events{symbol="BTCUSDT"} 5.0' in metrics
    assert 'execsvc_liquidation_score_side_match_rate{symbol="BTCUSDT"} 1.0' in metrics
    assert "execsvc_liquidation_score_top_decile_share{" in metrics


def replay_app(redis_client: Redis):
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d")
    store = BandStore(redis_client)
    return config, store, make_app(config, with_worker=False, store=store)


async def test_replay_mode_says_it_has_no_source(redis_client: Redis) -> None:
    config, store, app = replay_app(redis_client)
    assert (await MapWorker(ReplaySource(720, symbols=["BTCUSDT"]), store, config).tick()
            ).failed == {}
    async with asgi_client(app) as client:
        listing = await client.get("/liquidations/BTCUSDT")
        bands = await client.get("/liquidations/BTCUSDT/bands", params={"window": "7d"})
        model = (await client.get("/model")).json()
        metrics = (await client.get("/metrics")).text
    for response in (listing, bands):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["reason"] == "no_liquidation_source" and "replay" in body["detail"]
    assert model["online_score"]["available"] is False
    assert "replay" in model["online_score"]["reason"]
    assert "execsvc_liquidation_score_top_decile_share{" not in metrics


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    ("/liquidations/NOPE", {}, 404, "path.symbol"),
    ("/liquidations/BTCUSDT", {"since": 2000, "until": 1000}, 422, "query.until"),
    ("/liquidations/BTCUSDT", {"limit": 0}, 422, "query.limit"),
    ("/liquidations/BTCUSDT", {"limit": 5001}, 422, "query.limit"),
    ("/liquidations/BTCUSDT", {"since": -1}, 422, "query.since"),
    ("/liquidations/BTCUSDT", {"since": "yesterday"}, 422, "query.since"),
    ("/liquidations/BTCUSDT", {"sinse": 1}, 422, "query.sinse"),
    ("/liquidations/BTCUSDT", {"exchange": "bybit"}, 404, "query.exchange"),
    ("/liquidations/BTCUSDT/bands", {"window": "2d"}, 422, "query.window"),
    ("/liquidations/BTCUSDT/bands", {"since": 5, "until": 4}, 422, "query.until"),
])
async def test_bad_input_is_a_problem_naming_the_field(
    redis_client: Redis, path: str, params: dict, status: int, field: str
) -> None:
    _, _, app = replay_app(redis_client)
    async with asgi_client(app) as client:
        response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    named = body.get("field") or [e["field"] for e in body.get("errors", [])]
    assert field in named


async def test_a_live_configuration_without_an_ingest_says_so(redis_client: Redis) -> None:
    config = live_settings()
    store = BandStore(redis_client)
    app = make_app(config, with_worker=False, store=store)
    async with asgi_client(app) as client:
        missing = await client.get("/liquidations/BTCUSDT")
        assert missing.status_code == 503
        assert missing.json()["reason"] == "liquidation_feed_missing"
        assert "execsvc liquidations" in missing.json()["detail"]
        # an ingest reported once, long ago: its data is served, the feed is `down`
        status = FeedStatus(venue="binanceusdm", symbols=["BTCUSDT"], state="connected",
                            since_ms=1_000, events=4)
        await LiquidationStore(redis_client).put_status(status, now_ms=int(time.time() * 1000)
                                                        - 60_000)
        stale = await client.get("/liquidations/BTCUSDT")
        model = (await client.get("/model")).json()
    assert stale.status_code == 200
    assert stale.json()["feed"]["state"] == "down" and stale.json()["count"] == 0
    assert stale.json()["feed"]["heartbeat_age_s"] >= 60
    assert model["online_score"]["available"] is True
    assert model["online_score"]["feed"]["state"] == "down"
    assert model["online_score"]["symbols"]["BTCUSDT"]["events"] == 0
