"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from execsvc.api.deps import ApiContext, Ctx
from execsvc.api.problems import problem_response, problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import StatusResponse
from execsvc.store import StoreUnavailable
from execsvc.store.band_store import HealthReads

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Process is alive", response_model=StatusResponse,
            responses=problems())
async def healthz() -> FastJSONResponse:
    return FastJSONResponse({"status": "ok"})


async def _health_reads(ctx: ApiContext) -> tuple[dict[str, str], HealthReads]:
    """Each symbol's map served by default (`all` with several venues) and what readiness and
    the gauges read of its maps, its status and the workers: one round trip
    (`BandStore.health_reads`; and a read of the symbol registry when `maps.cache` re-reads
    it)."""
    symbols, windows = ctx.settings.symbols, ctx.settings.windows
    exchanges = {symbol: (await ctx.cache.venues_of(symbol)).default_map for symbol in symbols}
    reads = await ctx.store.health_reads(
        [(exchanges[symbol], symbol, window) for symbol in symbols for window in windows],
        [(exchanges[symbol], symbol) for symbol in symbols])
    return exchanges, reads


async def _not_ready_reasons(ctx: ApiContext) -> list[str]:
    try:
        exchanges, reads = await _health_reads(ctx)
    except StoreUnavailable as exc:
        return [str(exc)]
    reasons: list[str] = []
    limit = ctx.settings.max_map_age_s
    for symbol, exchange in exchanges.items():
        for window in ctx.settings.windows:
            fresh = reads.freshness[(exchange, symbol, window)]
            if fresh is None:
                reasons.append(f"{symbol} {window}: no map yet")
            elif (why := fresh.stale_reason(limit)) == "map_stale":
                reasons.append(f"{symbol} {window}: map is {fresh.age_s():.0f} s old "
                               f"(limit {limit:.0f} s)")
            elif why == "data_stale":
                reasons.append(f"{symbol} {window}: market data stopped (newest candle "
                               f"{fresh.data_lag_s:.0f} s behind the source's clock)")
        status = reads.status[(exchange, symbol)]
        if int(status.get("consecutive_failures", 0)):
            reasons.append(f"{symbol}: last refresh failed: {status.get('last_error', '?')}")
    if not reads.live_workers:
        reasons.append("no worker heartbeat")
    return reasons


@router.get("/readyz", summary="Store reachable and every map served by default fresh (with "
            "several venues, their sum: a venue left out of it is named in the map)",
            response_model=StatusResponse, responses=problems(503))
async def readyz(ctx: Ctx) -> Response:
    reasons = await _not_ready_reasons(ctx)
    if reasons:
        return problem_response(503, "not ready", reason="not_ready", reasons=reasons)
    return FastJSONResponse({"status": "ready"})


async def _refresh_store_gauges(ctx: ApiContext) -> None:
    gauges = ctx.store_metrics
    try:
        exchanges, reads = await _health_reads(ctx)
    except StoreUnavailable:
        gauges.store_up.set(0)
        return
    gauges.store_up.set(1)
    for symbol, exchange in exchanges.items():
        for window in ctx.settings.windows:
            fresh = reads.freshness[(exchange, symbol, window)]
            age = fresh.age_s() if fresh else float("inf")
            gauges.map_age.labels(symbol, window).set(age)
            gauges.map_version.labels(symbol, window).set(fresh.version if fresh else 0)
            stale = fresh is None or fresh.stale_reason(ctx.settings.max_map_age_s) is not None
            gauges.map_stale.labels(symbol, window).set(stale)
        status = reads.status[(exchange, symbol)]
        gauges.symbol_failures.labels(symbol).set(int(status.get("failures_total", 0)))


async def _refresh_liquidation_gauges(ctx: ApiContext) -> None:
    """The feed and the rolling online score, when a live stream is configured and has
    reported (the gauges are left out otherwise: no source is not zero liquidations)."""
    score = await ctx.online_score()
    if not score["available"]:
        return
    gauges = ctx.liquidation_metrics
    feed = score["feed"]
    exchange = feed["exchange"]
    gauges.feed_up.labels(exchange).set(feed["state"] == "connected")
    gauges.heartbeat_age.labels(exchange).set(feed["heartbeat_age_s"])
    gauges.reconnects.labels(exchange).set(feed["reconnects"])
    gauges.malformed.labels(exchange).set(feed["malformed"])
    for symbol, summary in score["symbols"].items():
        gauges.events.labels(symbol).set(summary["events"])
        gauges.notional.labels(symbol).set(summary["realised_notional_quote"])
        for name, gauge in gauges.scores.items():
            value = summary[name]
            gauge.labels(symbol).set(float("nan") if value is None else value)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)",
            response_class=Response, responses={
                200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                      "description": "Prometheus text format"}, **problems()})
async def metrics(ctx: Ctx) -> Response:
    await _refresh_store_gauges(ctx)
    await _refresh_liquidation_gauges(ctx)
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)
