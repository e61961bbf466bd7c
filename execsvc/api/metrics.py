"""Request metrics as a pure ASGI middleware over prometheus_client.

Labels use the matched route's template (`/map/{symbol}`), read from `scope["route"]` that the
router sets, so no request pays for matching the routes a second time; unmatched paths count
as `<unmatched>` and never create a label per URL.
"""

from __future__ import annotations

import time
from typing import ClassVar

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


class LiquidationMetrics:
    """Gauges of the liquidation feed and the rolling online score, filled from the store at
    scrape time (the ingest may run in another process). A ratio without events is NaN."""

    SCORES: ClassVar[dict[str, str]] = {
        "top_decile_share": "Realised notional in the map's top-decile bands / in its range",
        "uniform_share": "What a uniform map would give (the top decile's share of the range)",
        "lift": "top_decile_share / uniform_share",
        "mean_band_percentile": "Mean percentile of the events' bands (0.5: no skill)",
        "side_match_rate": "Share of events on the side the map predicts",
    }

    def __init__(self, registry: CollectorRegistry) -> None:
        self.feed_up = Gauge(
            "execsvc_liquidation_feed_up", "1 when the ingest reports a connected feed",
            ["exchange"], registry=registry)
        self.heartbeat_age = Gauge(
            "execsvc_liquidation_feed_heartbeat_age_seconds",
            "Seconds since the liquidation ingest last reported", ["exchange"],
            registry=registry)
        self.reconnects = Gauge(
            "execsvc_liquidation_feed_reconnects_total",
            "Reconnects of the running ingest's feed", ["exchange"], registry=registry)
        self.malformed = Gauge(
            "execsvc_liquidation_feed_malformed_total",
            "Frames and events the running ingest skipped as malformed", ["exchange"],
            registry=registry)
        self.events = Gauge(
            "execsvc_liquidations_events", "Realised liquidations in the rolling score window",
            ["symbol"], registry=registry)
        self.notional = Gauge(
            "execsvc_liquidations_realised_quote",
            "Realised liquidation notional in the rolling score window (quote; Binance: a "
            "lower bound, its stream is sampled)", ["symbol"], registry=registry)
        self.scores = {
            name: Gauge(f"execsvc_liquidation_score_{name}", help_text, ["symbol"],
                        registry=registry)
            for name, help_text in self.SCORES.items()
        }
