"""`WorkerProcess`: the refresh worker of `execsvc serve` in a child process of its own, so
its fetches, builds, encoding and Redis writes never run on the API's event loop nor hold the
API's interpreter lock.

A thread of its own (with its own event loop) was measured against a process by
`execsvc bench --only stalls` (the worker refreshing 3 symbols x 3 windows every second and
slices being planned): `/healthz` p99 rose to 1.80, 2.52 and 2.22 times its quiet value with a
thread, 1.35, 1.98 and 1.03 times with a process; the thread still shares the interpreter lock
with the API for the worker's Python work.

The child runs `main` (a function of the composition root, given by the caller) on the same
store through a client of its own. It stops on SIGTERM (its worker releases its leases and
leaves the registry) and on its own when the API process is gone (its parent id changes), so
a killed API leaves no orphan worker behind. A child that ends by itself (a crash, a kill) is
logged and started again after `RESTART_S`: meanwhile the maps age and go stale visibly.
Start-up checks of the worker's configuration happen in the API process before any child.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from execsvc.maps.worker import MapWorker

log = logging.getLogger("execsvc.maps.worker")
STOP_TIMEOUT_S = 30.0
PARENT_CHECK_S = 1.0
RESTART_S = 5.0


class WorkerProcess:
    """Runs `main(*args, parent_pid)` in a spawned child until the `stop` given to `run` is
    set; `main` must be a module-level function (it is imported again in the child)."""

    def __init__(self, main: Callable[..., None], *args: Any) -> None:
        self.main = main
        self.args = args
        self.process: BaseProcess | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Start the child and keep one running until `stop` is set (a child that ends by
        itself is logged and started again after `RESTART_S`), then SIGTERM it and wait for
        it to end (killed after `STOP_TIMEOUT_S`)."""
        stopping = asyncio.ensure_future(stop.wait())
        ended: asyncio.Future | None = None
        try:
            while not stop.is_set():
                self.process = self._start()
                ended = asyncio.ensure_future(asyncio.to_thread(self.process.join))
                await asyncio.wait([stopping, ended], return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    break
                log.error("the refresh worker process ended (exit code %s): maps go stale "
                          "until it runs again in %g s", self.process.exitcode, RESTART_S)
                await asyncio.wait([stopping], timeout=RESTART_S)
        finally:
            stopping.cancel()
            await asyncio.to_thread(self._end)
            if ended is not None:
                await ended

    def _start(self) -> BaseProcess:
        context = multiprocessing.get_context("spawn")
        process = context.Process(target=self.main, args=(*self.args, os.getpid()),
                                  name="execsvc-worker", daemon=True)
        process.start()
        return process

    def _end(self) -> None:
        process = self.process
        if process is None or process.exitcode is not None:
            return
        process.terminate()
        process.join(STOP_TIMEOUT_S)
        if process.is_alive():
            log.warning("the refresh worker did not stop within %g s: killed", STOP_TIMEOUT_S)
            process.kill()
            process.join()


async def run_until_told(worker: MapWorker, parent_pid: int) -> None:
    """`worker.run` in the child until SIGTERM/SIGINT or until the parent `parent_pid` is
    gone; then its source is closed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def watch_parent() -> None:
        while not stop.is_set():
            if os.getppid() != parent_pid:
                log.warning("the API process is gone: the refresh worker stops")
                stop.set()
            await asyncio.sleep(PARENT_CHECK_S)

    watching = asyncio.create_task(watch_parent())
    try:
        await worker.run(stop)
    finally:
        watching.cancel()
        await worker.close()
        await worker.store.redis.aclose()
