"""Request metrics as a pure ASGI middleware over prometheus_client.

Labels use the matched route's template (`/map/{symbol}`), read from `scope["route"]` that the
router sets, so no request pays for matching the routes a second time; unmatched paths count
as `<unmatched>` and never create a label per URL.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "execsvc_http_requests", "HTTP requests by route template and status",
            ["method", "handler", "status"], registry=registry,
        )
        self.latency = Histogram(
            "execsvc_http_request_duration_seconds", "HTTP request latency",
            ["handler"], registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", "<unmatched>")
            if handler != "/metrics":
                self.requests.labels(scope["method"], handler, str(status)).inc()
                self.latency.labels(handler).observe(time.perf_counter() - started)


class StoreMetrics:
    """Gauges the API fills from the store at scrape time, so they hold in any deployment."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.map_age = Gauge(
            "execsvc_map_age_seconds", "Seconds since the map was computed", ["symbol", "window"],
            registry=registry,
        )
        self.map_version = Gauge(
            "execsvc_map_version", "Stored map version", ["symbol", "window"], registry=registry
        )
        self.map_stale = Gauge(
            "execsvc_map_stale", "1 when the map is missing or older than MAX_MAP_AGE_S",
            ["symbol", "window"], registry=registry,
        )
        self.symbol_failures = Gauge(
            "execsvc_symbol_failures_total", "Failed refreshes recorded by workers", ["symbol"],
            registry=registry,
        )
        self.store_up = Gauge("execsvc_store_up", "1 when Redis answers", registry=registry)
