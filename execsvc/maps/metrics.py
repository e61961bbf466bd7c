"""The worker's Prometheus metrics (its own registry: no global state)."""

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
