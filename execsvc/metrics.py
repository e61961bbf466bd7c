"""Prometheus metrics. Each app or worker gets its own registry (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.builds = Counter(
            "execsvc_worker_map_builds", "Map builds by result", ["symbol", "window", "result"],
            registry=registry,
        )
        self.failures = Counter(
            "execsvc_worker_symbol_failures", "Symbol refreshes that failed", ["symbol", "stage"],
            registry=registry,
        )
        self.build_seconds = Histogram(
            "execsvc_worker_map_build_seconds", "Time to build and serialise one map",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self.tick_seconds = Histogram(
            "execsvc_worker_tick_seconds", "Time for one refresh of every owned symbol",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.owned_symbols = Gauge(
            "execsvc_worker_owned_symbols", "Symbols this worker holds the lease for",
            registry=registry,
        )


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
