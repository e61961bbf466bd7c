"""Liquidation ingest benchmark: what one realised liquidation costs to score and to store.

1. Scoring: `score_event` against a real map (the bundled BTCUSDT replay, 7d window: 400
   bands), median microseconds per event; baseline: the `np.searchsorted` that finds the band.
2. Storing: `LiquidationStore.add` (one Lua script: duplicate check, stream entry with the
   map reference and score, hourly score totals, trimming), events per second one after
   another; baseline: a plain `XADD` of the same entry on the same server; and the rate at
   which duplicates are refused.

Binance sends at most one liquidation per symbol per second and Bybit a few per push, so the
ingest's budget is about 1 ms per event per symbol; these figures say how far below it is.
`redis_url` None runs on the embedded store (fakeredis with Lua), else on that server (under a
fresh key prefix, deleted afterwards).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import fakeredis
import numpy as np
from redis.asyncio import Redis

from execsvc.bench.figures import Figure, Section
from execsvc.bench.timing import median_ms
from execsvc.domain.liquidations import LiquidationEvent, event_id
from execsvc.liqmap.online_score import MapBands, ScoreTotals, score_event
from execsvc.maps.refresh import fetch_snapshot, map_params, snapshot_lookback_s
from execsvc.maps.venue_build import build_documents
from execsvc.market.replay import ReplaySource
from execsvc.settings import Settings
from execsvc.store.liquidation_store import LiquidationStore


def replay_bands() -> MapBands:
    """The bands of the bundled BTCUSDT 7d replay map."""
    settings = Settings(_env_file=None, symbols="BTCUSDT", windows="7d", data_dir="")
    source = ReplaySource(speed=720.0, symbols=["BTCUSDT"])
    params = map_params(settings)
    info = source.symbols()[0]
    snapshot = asyncio.run(fetch_snapshot(source, info, snapshot_lookback_s(
        settings.window_seconds, params), with_book=False))
    (document,) = build_documents(snapshot, settings.window_seconds, params)
    return MapBands.from_document(document)


def synthetic_events(bands: MapBands, count: int, seed: int = 7) -> list[LiquidationEvent]:
    """Events at prices drawn within +-3 % of the map's price, one per second."""
    rng = random.Random(seed)
    start = int(time.time() * 1000) - count * 1000
    events = []
    for k in range(count):
        side = rng.choice(("long", "short"))
        price = round(bands.price * (1 + rng.uniform(-0.03, 0.03)), 1)
        quantity = round(rng.expovariate(2.0) + 0.001, 3)
        time_ms = start + k * 1000
        events.append(LiquidationEvent(time_ms, "binanceusdm", "BTCUSDT", side, price, quantity,
                                       price * quantity, event_id("binanceusdm", "BTCUSDT",
                                                                  time_ms, side, price,
                                                                  quantity)))
    return events


def bench_scoring(bands: MapBands, events: list[LiquidationEvent], repeats: int) -> Section:
    prices = [e.price for e in events]

    def score_all() -> None:
        for event in events:
            score_event(event.side, event.price, bands)

    def find_all() -> None:
        for price in prices:
            np.searchsorted(bands.low, price, side="right")

    per_score = median_ms(score_all, repeats) * 1000 / len(events)
    per_find = median_ms(find_all, repeats) * 1000 / len(events)
    return Section(
        key="liquidations-score",
        title=(f"liquidation scoring: {len(events):,} events on the BTCUSDT 7d map "
               f"({len(bands.low)} bands)"),
        figures=[
            Figure("score_event", per_score, "us per event"),
            Figure("the band lookup alone", per_find, "us per event"),
            Figure("score_event / band lookup", per_score / per_find, "x"),
        ],
    )


async def bench_storing(redis: Redis, bands: MapBands, events: list[LiquidationEvent]
                        ) -> Section:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    store = LiquidationStore(redis, prefix=prefix)
    details = [{"received_ms": e.time_ms + 40, "map": {"window": "7d", "version": 1},
                "score": score_event(e.side, e.price, bands).to_dict(),
                "unscored_reason": None} for e in events]
    totals = [ScoreTotals.of_event(e.notional_quote, score_event(e.side, e.price, bands))
              for e in events]
    try:
        started = time.perf_counter()
        for event, detail, total in zip(events, details, totals, strict=True):
            await store.add(event, detail, total)
        stored = len(events) / (time.perf_counter() - started)
        started = time.perf_counter()
        for event, detail, total in zip(events, details, totals, strict=True):
            await store.add(event, detail, total)
        refused = len(events) / (time.perf_counter() - started)
        plain_key = f"{prefix}:plain"
        started = time.perf_counter()
        for event, detail in zip(events, details, strict=True):
            await redis.xadd(plain_key, {"ev": repr({**event.to_dict(), **detail})})
        plain = len(events) / (time.perf_counter() - started)
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    return Section(
        key="liquidations-store",
        title=f"liquidation store: {len(events):,} events one after another",
        figures=[
            Figure("add (dedupe + stream + score totals + trim)", stored, "events/s"),
            Figure("plain XADD", plain, "events/s"),
            Figure("plain XADD / add", plain / stored, "x"),
            Figure("duplicates refused", refused, "events/s"),
        ],
    )


def bench_liquidations(redis_url: str | None, events: int = 5_000,
                       repeats: int = 5) -> list[Section]:
    bands = replay_bands()
    sample = synthetic_events(bands, events)
    scoring = bench_scoring(bands, sample, repeats)

    async def storing() -> Section:
        redis = (Redis.from_url(redis_url) if redis_url
                 else fakeredis.aioredis.FakeRedis(server=fakeredis.FakeServer()))
        try:
            return await bench_storing(redis, bands, sample)
        finally:
            await redis.aclose()

    return [scoring, asyncio.run(storing())]
