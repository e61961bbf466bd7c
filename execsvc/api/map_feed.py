"""`MapFeed`: one Redis subscription per process to the store's map notices, fanned out to every
`/stream/maps` client through a small bounded queue each (a slow client loses its oldest
events, never blocks the others; each event is complete in itself). The subscription starts
with the first client and ends with the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError

from execsvc.store import BandStore, StoreUnavailable

log = logging.getLogger("execsvc.api.stream")
QUEUE_SIZE = 64


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
