"""Configured symbols and their cached liquidation maps. The API never computes a map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from execsvc.api.deps import ApiContext, Ctx
from execsvc.api.map_body import accepts_gzip, etag, matches
from execsvc.api.problems import field_problem, problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import (
    ExchangeQuery,
    LeverageQuery,
    MapResponse,
    SymbolPath,
    SymbolsResponse,
    WindowQuery,
)
from execsvc.domain.map_document import UnknownLeverage
from execsvc.maps.leverage_filter import for_leverages
from execsvc.store import StoredMap

router = APIRouter(tags=["maps"])


async def _map_status(ctx: Ctx, exchange: str, symbol: str) -> dict[str, Any]:
    """Version, age and freshness of each window's map on `exchange`, and its last error."""
    limit = ctx.settings.max_map_age_s
    windows = {}
    for window in ctx.settings.windows:
        fresh = await ctx.store.map_freshness(exchange, symbol, window)
        windows[window] = {
            "version": None if fresh is None else fresh.version,
            "age_s": None if fresh is None else round(fresh.age_s(), 3),
            "stale": fresh is None or fresh.stale_reason(limit) is not None,
        }
    status = await ctx.store.status(exchange, symbol)
    failing = status.get("consecutive_failures", "0") != "0"
    return {"exchange": exchange, "windows": windows,
            "last_error": status.get("last_error") if failing else None}


@router.get("/symbols", summary="Configured symbols with their venues and each map's version, "
            "age and freshness", response_model=SymbolsResponse, responses=problems(503))
async def symbols(ctx: Ctx) -> FastJSONResponse:
    """Per symbol, the map served by default (`exchange`: `all` when several venues are
    summed) with its windows, and every venue's own maps (`venues`)."""
    registry = await ctx.store.symbol_registry()
    answer = []
    for symbol in ctx.settings.symbols:
        info = registry.get(symbol, {})
        venues = await ctx.cache.venues_of(symbol)
        default = await _map_status(ctx, venues.default_map, symbol)
        answer.append({
            "symbol": symbol,
            **default,
            "quote_currency": info.get("quote_currency"),
            "has_open_interest": info.get("has_open_interest"),
            "venues": [default if venue == venues.default_map
                       else await _map_status(ctx, venue, symbol)
                       for venue in venues.exchanges],
        })
    return FastJSONResponse({"symbols": answer})


@router.get("/map/{symbol}", summary="The cached liquidation map of a symbol",
            response_model=MapResponse,
            responses={**problems(404, 503),
                       304: {"description": "Not modified: `If-None-Match` names the ETag of "
                                            "this version and freshness"}})
async def get_map(
    ctx: Ctx,
    request: Request,
    symbol: SymbolPath,
    window: WindowQuery = "7d",
    exchange: ExchangeQuery = None,
    leverage: LeverageQuery = None,
) -> Response:
    """`exchange=all` (the default with several venues) is the venues' maps summed on one
    grid around the median of their marks, with `venues` (each venue's totals, data age and
    staleness), `dropped` (venues left out of the sum, with the reason) and each venue's
    notional per band (`notional_by_venue_quote`) and per cluster; `exchange=<venue>` is that
    venue's own map. The stored document with its freshness fields (`version`,
    `computed_at`, `age_s`, `stale`), served from the stored bytes with a weak `ETag` (per
    version and staleness; `If-None-Match` answers 304) and gzip for clients that accept it.
    With `leverage=` (repeatable) the bands, cumulative curves, totals and clusters are those
    of the given leverages only, as the chart draws them (the per-venue notional per band and
    cluster is then left out: it is not split by leverage)."""
    if leverage:
        return _for_leverages(ctx, await ctx.stored_map(symbol, window, exchange), leverage)
    return await map_answer(ctx, symbol, window, exchange, request.headers.get("if-none-match"),
                            request.headers.get("accept-encoding"))


async def map_answer(ctx: ApiContext, symbol: str, window: str, exchange: str | None,
                     if_none_match: str | None, accept_encoding: str | None) -> Response:
    """The answer of `GET /map/{symbol}` without `leverage=`, for valid parameters: the stored
    bytes with the freshness fields, `ETag` (304 when `if_none_match` names it) and gzip when
    `accept_encoding` accepts it; raises `Problem` (404, 422, 503) as `ctx.map_body` does. The
    route and the hot-path dispatch (`api.hot_routes`) both answer with it."""
    body = await ctx.map_body(symbol, window, exchange)
    fresh = body.fresh.fields(ctx.settings.max_map_age_s)
    headers = {"ETag": etag(body.version, fresh["stale"]), "Vary": "Accept-Encoding",
               "Cache-Control": "no-cache"}
    if matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if accepts_gzip(accept_encoding):
        return Response(body.gzipped(fresh), media_type="application/json",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(body.body(fresh), media_type="application/json", headers=headers)


def _for_leverages(ctx: ApiContext, stored: StoredMap, leverage: list[float]
                   ) -> FastJSONResponse:
    try:
        document = for_leverages(stored.document, leverage)
    except UnknownLeverage as exc:
        raise field_problem("query.leverage", str(exc)) from None
    return FastJSONResponse({**document, **ctx.freshness(stored)})
