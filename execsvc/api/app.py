"""The FastAPI application: thin routes over the band store.

`create_app(settings, store, worker=None)`; with a worker (`execsvc serve`) the app's lifespan
runs the refresh loop in the same event loop and stops it on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from execsvc.api import (
    problems,
    routes_health,
    routes_maps,
    routes_model,
    routes_orders,
    routes_risk,
    routes_stream,
    routes_suggest,
    routes_ui,
)
from execsvc.api.advice_cache import AdviceCache
from execsvc.api.context import ApiContext
from execsvc.api.http_metrics import HttpMetrics
from execsvc.api.venue_setup import close_venue, make_venue, run_venue
from execsvc.metrics import StoreMetrics
from execsvc.risk import Policy, RiskGate, load_policies_dir
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.worker import MapWorker


def create_app(
    settings: Settings,
    store: BandStore,
    worker: MapWorker | None = None,
    registry: CollectorRegistry | None = None,
    policy: Policy | None = None,
) -> FastAPI:
    """Raises `PolicyError` when no valid risk policy is given or found: nothing starts
    without one."""
    registry = registry or CollectorRegistry()
    policy = policy if policy is not None else load_policies_dir(
        settings.policies_dir, settings.policy_file, windows=settings.windows
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(run_venue(app.state.venue, settings, stop))]
        if worker:
            tasks.append(asyncio.create_task(worker.run(stop)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await close_venue(app.state.venue)

    app = FastAPI(
        title="execsvc",
        summary="Liquidation maps and execution advice for crypto perpetual futures",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ctx = ApiContext(settings, store, registry, StoreMetrics(registry))
    app.state.advice = AdviceCache(store)
    app.state.policy = policy
    app.state.risk_gate = RiskGate(store.redis, prefix=store.prefix)
    app.state.venue = make_venue(settings, store, app.state.ctx, app.state.advice)
    app.state.position_lookup = app.state.venue.position
    problems.install(app)
    # Routes are matched in order: the advice bots call many times a second goes first.
    app.include_router(routes_suggest.router)
    app.include_router(routes_risk.router)
    app.include_router(routes_orders.router)
    app.include_router(routes_health.router)
    app.include_router(routes_ui.router)  # before routes_maps: /map/{symbol} would take .svg
    app.include_router(routes_stream.router)
    app.include_router(routes_maps.router)
    app.include_router(routes_model.router)
    app.add_middleware(HttpMetrics, registry=registry)
    return app
