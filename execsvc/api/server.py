"""The HTTP server of `execsvc serve` and `execsvc api`: uvicorn with the service's limits.

- `MAX_CONNECTIONS`: connections (and requests in flight) served at once; beyond it uvicorn
  answers 503 (`limit_concurrency`).
- `HEADER_TIMEOUT_S` / `BODY_TIMEOUT_S`: a connection must send a complete request head within
  `HEADER_TIMEOUT_S` of connecting (or of starting its next request on a kept-alive
  connection) and the body within `BODY_TIMEOUT_S` after the head, else it is closed. uvicorn
  has no such timeout of its own: a client that connects and sends nothing, or a few bytes of
  a header, holds the connection forever (half-open connections, slowloris). Its keep-alive
  timeout only covers the idle time between two requests. `TimedHttpProtocol` adds the timer
  to uvicorn's httptools protocol.
- `MAX_BODY_BYTES` is enforced by the app (`execsvc.api.middleware.RequestFilter`): a
  larger `Content-Length` is refused with 413 before any of the body is read, and a chunked
  body is cut off at the limit.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from execsvc.settings import Settings


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on receiving each request: `header_timeout_s`
    for the request head (from the connection, or the first byte of a kept-alive request),
    then `body_timeout_s` for the body. Past it the connection is closed."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receive_deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._receive_deadline = self.loop.call_later(seconds, self._receive_timed_out)

    def _disarm(self) -> None:
        if self._receive_deadline is not None:
            self._receive_deadline.cancel()
            self._receive_deadline = None

    def _receive_timed_out(self) -> None:
        self._receive_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        if self._expects_body():
            self._arm(self.body_timeout_s)
        super().on_headers_complete()

    def _expects_body(self) -> bool:
        return any(name == b"transfer-encoding" or (name == b"content-length"
                                                    and value.strip() not in (b"", b"0"))
                   for name, value in self.headers)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def timed_protocol(settings: Settings) -> type[TimedHttpProtocol]:
    """`TimedHttpProtocol` with the settings' head and body timeouts."""
    return type("TimedHttpProtocol", (TimedHttpProtocol,), {
        "header_timeout_s": settings.header_timeout_s,
        "body_timeout_s": settings.body_timeout_s,
    })


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration for `app` (bind address from settings unless overridden)."""
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port,
        "log_level": settings.log_level.lower(), "access_log": False,
        "http": timed_protocol(settings), "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class FrozenHeapServer(uvicorn.Server):
    """A uvicorn server that, once started (app, store, worker and every module loaded),
    moves everything alive into the garbage collector's permanent generation (`gc.freeze`):
    the objects of start-up are never traversed again, so full collections of the request
    path's garbage stay short instead of walking the whole heap."""

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        gc.collect()
        gc.freeze()


def serve(app: FastAPI, settings: Settings) -> None:
    """Run `app` until SIGINT/SIGTERM."""
    FrozenHeapServer(server_config(app, settings)).run()
