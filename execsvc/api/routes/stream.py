"""`GET /stream/maps`: server-sent events, one per map update (sse-starlette).

Each `map` event carries `{symbol, window, exchange, version, computed_at_ms, summary}` where
`summary` is the compact summary the worker publishes (`price`, `model`, `data_end`,
`top_clusters`). `?symbol=`, `?window=` and `?exchange=` (`all`, the venues' sum, or a
venue) keep only those maps; without `exchange` every venue's maps and their sum come. A
`: ping` comment every `HEARTBEAT_S` keeps proxies from closing an idle stream. If the
store's pub/sub fails, the stream sends an `error` event and ends; browsers reconnect by
themselves after `RETRY_MS`.

One Redis subscription per process (`execsvc.api.map_feed.MapFeed`) fans out to every
connected client; a client that goes away is removed when sse-starlette notices the
disconnect. The OpenAPI document describes the stream as `text/event-stream` with the JSON
schema of an event's data (`MapEvent`); it never ends, so clients must read it as a stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent

from execsvc.api.deps import Ctx
from execsvc.api.map_feed import MapFeed
from execsvc.api.problems import Problem, problems
from execsvc.api.schemas import ExchangeQuery, SymbolQuery
from execsvc.domain.map_document import AGGREGATE_EXCHANGE, ClusterSummary
from execsvc.domain.units import Window

router = APIRouter(tags=["stream"])

HEARTBEAT_S = 15.0
RETRY_MS = 3000
SUMMARY_FIELDS = ("price", "model", "data_end", "top_clusters")


class EventSummary(BaseModel):
    price: float
    model: str
    data_end: str
    top_clusters: list[ClusterSummary]


class MapEvent(BaseModel):
    """The JSON `data` of one `map` event."""

    symbol: str
    window: str
    exchange: str
    version: int
    computed_at_ms: int
    summary: EventSummary


STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An endless `text/event-stream`: one `map` event per map update (its "
                       "`data` is a `MapEvent`), a `: ping` comment every 15 s, an `error` "
                       "event when the store's notices fail (browsers reconnect after `retry`)",
        "content": {"text/event-stream": {
            "schema": {"type": "string", "description": "event: map, data: MapEvent (JSON)"},
            "example": 'event: map\ndata: {"symbol": "BTCUSDT", "window": "7d", ...}\n'
                       "retry: 3000\n\n",
        }},
    },
    **problems(404),
}


def event_data(notice: dict[str, Any]) -> dict[str, Any]:
    """The payload of one `map` event, from a store notice."""
    return {
        "symbol": notice.get("symbol"),
        "window": notice.get("window"),
        "exchange": notice.get("exchange"),
        "version": notice.get("version"),
        "computed_at_ms": notice.get("computed_at_ms"),
        "summary": {k: notice[k] for k in SUMMARY_FIELDS if k in notice},
    }


async def _events(
    feed: MapFeed, symbol: str | None, window: str | None, exchange: str | None = None
) -> AsyncIterator[ServerSentEvent]:
    async with feed.subscribe() as queue:
        while True:
            notice = await queue.get()
            if notice is None:
                yield ServerSentEvent(data=orjson.dumps({"detail": "map notices unavailable"})
                                      .decode(), event="error", retry=RETRY_MS)
                return
            if symbol and notice.get("symbol") != symbol:
                continue
            if window and notice.get("window") != window:
                continue
            if exchange and notice.get("exchange") != exchange:
                continue
            yield ServerSentEvent(data=orjson.dumps(event_data(notice)).decode(), event="map",
                                  retry=RETRY_MS)


@router.get("/stream/maps", summary="Server-sent events, one per map update",
            response_class=EventSourceResponse, responses=STREAM_RESPONSES)
async def stream_maps(
    ctx: Ctx,
    symbol: SymbolQuery = None,
    window: Annotated[Window | None, Query(description="Only this window's maps")] = None,
    exchange: ExchangeQuery = None,
) -> EventSourceResponse:
    key = ctx.known_symbol(symbol, "query.symbol") if symbol else None
    if window:
        ctx.known_window(window)
    if exchange:
        exchange = await _known_exchange(ctx, key, exchange)
    return EventSourceResponse(
        _events(ctx.feed, key, window, exchange), ping=HEARTBEAT_S,
        headers={"Cache-Control": "no-store"},
    )


async def _known_exchange(ctx: Ctx, symbol: str | None, exchange: str) -> str:
    """The exchange key of the maps `exchange` names: for one symbol as `map_exchange`
    resolves it, else `all` or a venue of some configured symbol (404 naming
    `query.exchange` otherwise)."""
    if symbol:
        return await ctx.map_exchange(symbol, exchange)
    known = {AGGREGATE_EXCHANGE}
    for each in ctx.settings.symbols:
        known.update((await ctx.cache.venues_of(each)).exchanges)
    if exchange not in known:
        raise Problem(404, f"no maps on {exchange}; there are: {', '.join(sorted(known))}",
                      field="query.exchange", reason="unknown_exchange")
    return exchange
