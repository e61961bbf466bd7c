"""An app served by a real uvicorn on a free loopback port, for tests that need real HTTP
(server-sent events, the browser)."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from execsvc.api.server import server_config
from tests.support.redis_server import free_port


class LiveServer:
    """An app served by uvicorn on 127.0.0.1 in a background thread (its own event loop), with
    the service's server configuration (`execsvc.api.server`: limits and timeouts from the
    app's settings)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = server_config(app, app.state.ctx.settings, host="127.0.0.1", port=self.port,
                               log_level="warning", lifespan="on", timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
