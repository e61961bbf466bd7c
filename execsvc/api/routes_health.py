"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from execsvc.api.context import ApiContext, context
from execsvc.api.problems import problem_response
from execsvc.api.responses import FastJSONResponse
from execsvc.store import StoreUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Process is alive")
async def healthz() -> FastJSONResponse:
    return FastJSONResponse({"status": "ok"})


async def _not_ready_reasons(ctx: ApiContext) -> list[str]:
    try:
        await ctx.store.ping()
    except StoreUnavailable as exc:
        return [str(exc)]
    reasons: list[str] = []
    registry = await ctx.store.symbol_registry()
    now_ms = time.time() * 1000
    for symbol in ctx.settings.symbols:
        exchange = registry.get(symbol, {}).get("exchange", ctx.settings.exchange)
        for window in ctx.settings.windows:
            fresh = await ctx.store.map_freshness(exchange, symbol, window)
            if fresh is None:
                reasons.append(f"{symbol} {window}: no map yet")
            elif (age := (now_ms - fresh[1]) / 1000) > ctx.settings.max_map_age_s:
                reasons.append(f"{symbol} {window}: map is {age:.0f} s old "
                               f"(limit {ctx.settings.max_map_age_s:.0f} s)")
        status = await ctx.store.status(exchange, symbol)
        if int(status.get("consecutive_failures", 0)):
            reasons.append(f"{symbol}: last refresh failed: {status.get('last_error', '?')}")
    if not await ctx.store.live_workers():
        reasons.append("no worker heartbeat")
    return reasons


@router.get("/readyz", summary="Store reachable and every map fresh")
async def readyz(ctx: ApiContext = Depends(context)) -> Response:
    reasons = await _not_ready_reasons(ctx)
    if reasons:
        return problem_response(503, "not ready", reasons=reasons)
    return FastJSONResponse({"status": "ready"})


async def _refresh_store_gauges(ctx: ApiContext) -> None:
    gauges = ctx.store_metrics
    try:
        registry = await ctx.store.symbol_registry()
    except StoreUnavailable:
        gauges.store_up.set(0)
        return
    gauges.store_up.set(1)
    now_ms = time.time() * 1000
    for symbol in ctx.settings.symbols:
        exchange = registry.get(symbol, {}).get("exchange", ctx.settings.exchange)
        for window in ctx.settings.windows:
            fresh = await ctx.store.map_freshness(exchange, symbol, window)
            age = (now_ms - fresh[1]) / 1000 if fresh else float("inf")
            gauges.map_age.labels(symbol, window).set(age)
            gauges.map_version.labels(symbol, window).set(fresh[0] if fresh else 0)
            gauges.map_stale.labels(symbol, window).set(age > ctx.settings.max_map_age_s)
        status = await ctx.store.status(exchange, symbol)
        gauges.symbol_failures.labels(symbol).set(int(status.get("failures_total", 0)))


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(ctx: ApiContext = Depends(context)) -> Response:
    await _refresh_store_gauges(ctx)
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)
