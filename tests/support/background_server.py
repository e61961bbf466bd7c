"""An aiohttp application served on a free 127.0.0.1 port from a background thread with its own
event loop, so sync and async tests (of any event-loop scope) can use it. The local exchange
servers (`binance_stub`, `liquidation_streams`) build on it."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Self

from aiohttp import web


class BackgroundServer:
    """Subclasses give `build_app()` (and may extend `_shutdown()`); use as a context manager,
    or `start()` / `stop()`."""

    thread_name = "background-server"
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _port: int | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"the {self.thread_name} is not running")
        return self._port

    def run(self, coroutine: Any) -> Any:
        """Run `coroutine` on the server's loop and wait for its result (10 s at most)."""
        if self._loop is None:
            raise RuntimeError(f"the {self.thread_name} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve from a background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        started = asyncio.run_coroutine_threadsafe(self._start_site(sock), self._loop)
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name=f"{self.thread_name}-{self._port}", daemon=True)
        self._thread.start()
        started.result(timeout=10)
        return self

    async def _start_site(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Stop serving, cancel what is still running on the loop, and join the thread."""
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            self.run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = self._runner = None
        self._port = None

    async def _shutdown(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
