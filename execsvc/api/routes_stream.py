"""`GET /stream/maps`: server-sent events, one per map update (sse-starlette).

Each `map` event carries `{symbol, window, exchange, version, computed_at_ms, summary}` where
`summary` is the compact summary the worker publishes (`price`, `model`, `data_end`,
`top_clusters`). `?symbol=` (and `?window=`) keep only those maps. A `: ping` comment every
`HEARTBEAT_S` keeps proxies from closing an idle stream. If the store's pub/sub fails, the
stream sends an `error` event and ends; browsers reconnect by themselves after `RETRY_MS`.

One Redis subscription per process (`MapFeed`) fans out to every connected client through a
small bounded queue each (a slow client loses its oldest events, never blocks the others; each
event is complete in itself). A client that goes away is removed when sse-starlette notices the
disconnect; the subscription ends with the last client. Not in the OpenAPI document: an
endless stream is no request/response operation (schema-driven clients would hang on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent

from execsvc.api.context import ApiContext, context
from execsvc.api.routes_maps import Window
from execsvc.store import BandStore, StoreUnavailable

log = logging.getLogger("execsvc.api.stream")
router = APIRouter(tags=["stream"])

HEARTBEAT_S = 15.0
RETRY_MS = 3000
QUEUE_SIZE = 64
SUMMARY_FIELDS = ("price", "model", "data_end", "top_clusters")


class MapFeed:
    """The store's map notices, shared by every stream of one app."""

    def __init__(self, store: BandStore) -> None:
        self.store = store
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def clients(self) -> int:
        return len(self._queues)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of notices (`None` once the feed has failed) for as long as the caller
        stays inside the context."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        if not self.running:
            self._task = asyncio.create_task(self._pump(), name="execsvc-map-feed")
        try:
            yield queue
        finally:
            # No await here: this runs inside a cancelled scope when the client has gone.
            self._queues.discard(queue)
            if not self._queues and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _pump(self) -> None:
        try:
            async for notice in self.store.notices():
                for queue in list(self._queues):
                    _offer(queue, notice)
        except (StoreUnavailable, RedisError, OSError) as exc:
            log.warning("map notices stopped: %s", exc)
        for queue in list(self._queues):
            _offer(queue, None)


def _offer(queue: asyncio.Queue[dict[str, Any] | None], item: dict[str, Any] | None) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def map_feed(request: Request, ctx: ApiContext = Depends(context)) -> MapFeed:
    """The app's feed, created on first use."""
    feed = getattr(request.app.state, "map_feed", None)
    if feed is None:
        feed = MapFeed(ctx.store)
        request.app.state.map_feed = feed
    return feed


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
    feed: MapFeed, symbol: str | None, window: str | None
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
            yield ServerSentEvent(data=orjson.dumps(event_data(notice)).decode(), event="map",
                                  retry=RETRY_MS)


@router.get("/stream/maps", include_in_schema=False)
async def stream_maps(
    symbol: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9._-]+$",
                                        description="Only this symbol's maps")] = None,
    window: Annotated[Window | None, Query(description="Only this window's maps")] = None,
    ctx: ApiContext = Depends(context),
    feed: MapFeed = Depends(map_feed),
) -> EventSourceResponse:
    key = ctx.known_symbol(symbol) if symbol else None
    if window:
        ctx.known_window(window)
    return EventSourceResponse(
        _events(feed, key, window), ping=HEARTBEAT_S, headers={"Cache-Control": "no-store"}
    )
