"""Configured symbols and their cached liquidation maps. The API never computes a map."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from execsvc.api.context import ApiContext, context
from execsvc.api.responses import FastJSONResponse

router = APIRouter(tags=["maps"])

Window = Literal["1d", "7d", "30d"]
SymbolPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="e.g. BTCUSDT")]


@router.get("/symbols", summary="Configured symbols with map version, age and freshness")
async def symbols(ctx: ApiContext = Depends(context)) -> FastJSONResponse:
    registry = await ctx.store.symbol_registry()
    now_ms = time.time() * 1000
    answer = []
    for symbol in ctx.settings.symbols:
        info = registry.get(symbol, {})
        exchange = info.get("exchange", ctx.settings.exchange)
        windows = {}
        for window in ctx.settings.windows:
            fresh = await ctx.store.map_freshness(exchange, symbol, window)
            age = None if fresh is None else round((now_ms - fresh[1]) / 1000, 3)
            windows[window] = {
                "version": None if fresh is None else fresh[0],
                "age_s": age,
                "stale": age is None or age > ctx.settings.max_map_age_s,
            }
        status = await ctx.store.status(exchange, symbol)
        answer.append({
            "symbol": symbol,
            "exchange": exchange,
            "quote_currency": info.get("quote_currency"),
            "has_open_interest": info.get("has_open_interest"),
            "windows": windows,
            "last_error": status.get("last_error") if status.get("consecutive_failures", "0")
            != "0" else None,
        })
    return FastJSONResponse({"symbols": answer})


@router.get("/map/{symbol}", summary="The cached liquidation map of a symbol")
async def get_map(
    symbol: SymbolPath,
    window: Annotated[Window, Query(description="Lookback of position openings")] = "7d",
    exchange: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_]+$")] = None,
    ctx: ApiContext = Depends(context),
) -> FastJSONResponse:
    stored = await ctx.stored_map(symbol, window, exchange)
    return FastJSONResponse({**stored.document, **ctx.freshness(stored)})
