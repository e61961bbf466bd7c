"""`WorkerThread`: the refresh worker of `execsvc serve` on an event loop of its own, in a
thread of its own, so its fetches, builds and Redis writes never run on the API's event loop.

The worker must reach the store through a client of its own (a Redis connection belongs to the
event loop that opened it). It is built on the caller's thread, so a configuration fault (a
symbol the source does not have) still stops start-up, and runs on the thread's loop from the
first call. `run(stop)` has the signature of `MapWorker.run`: the app's lifespan runs either.

Why a thread and not a process (both measured by `execsvc bench --only stalls`): the worker's
CPU work (the map kernel, the document encoding) already runs off the loop; what stalled the
API were the Redis writes and the bookkeeping on its loop, which a thread moves away, without
a second interpreter's start-up and memory and without a child to supervise.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from execsvc.maps.worker import MapWorker

log = logging.getLogger("execsvc.maps.worker")


class WorkerThread:
    """Runs `worker` (whose store has a Redis client of its own) on a thread of its own until
    the `stop` given to `run` is set."""

    def __init__(self, worker: MapWorker) -> None:
        self.worker = worker
        self.thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Start the thread, wait for `stop`, then stop the worker and wait for its thread."""
        self.thread = threading.Thread(target=self._main, name="execsvc-worker", daemon=True)
        self.thread.start()
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(self._started.wait)
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            await asyncio.to_thread(self.thread.join)

    def _main(self) -> None:
        try:
            asyncio.run(self._run_here())
        except Exception:  # the API goes on: its maps go stale and /readyz says so
            log.exception("the refresh worker stopped")
        finally:
            self._started.set()

    async def _run_here(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        try:
            await self.worker.run(self._stop)
        finally:
            await self.worker.store.redis.aclose()
