"""The FastAPI application: thin routes over the band store, built by `create_app`.

`ctx` (`ApiContext`) is composed by `execsvc.runtime`. With a worker (`execsvc serve`) the
app's lifespan starts the refresh loop and stops it on shutdown (in a process of its own,
`maps.worker_process`, unless the store is the in-process one), and with a live source the
liquidation ingest beside it; the order venue's background work (paper price ticks) runs on
the API's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from execsvc.api import openapi, problems
from execsvc.api.deps import ApiContext, reject_unknown_query
from execsvc.api.hot_routes import HotRoutes, route_of
from execsvc.api.metrics import HttpMetrics
from execsvc.api.middleware import RequestFilter
from execsvc.api.routes import (
    health,
    liquidations,
    maps,
    model,
    orders,
    risk,
    stream,
    suggest,
    ui,
)
from execsvc.maps.liquidations import LiquidationIngest
from execsvc.maps.worker import MapWorker
from execsvc.maps.worker_process import WorkerProcess


def create_app(ctx: ApiContext, worker: MapWorker | WorkerProcess | None = None,
               ingest: LiquidationIngest | None = None, hot_routes: bool = True) -> FastAPI:
    """The app over `ctx`; `hot_routes=False` leaves out the hot-path dispatch
    (`api.hot_routes`), so every request goes through FastAPI's routing (the reference the
    tests compare it with)."""
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(ctx.venue.run(stop))]
        if worker:
            tasks.append(asyncio.create_task(worker.run(stop)))
        if ingest:
            tasks.append(asyncio.create_task(ingest.run(stop)))
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.gather(*tasks)
            finally:  # closed even when a task failed
                await ctx.venue.close()
                if isinstance(worker, MapWorker):
                    await worker.close()  # its sources' clients (ccxt sessions)

    app = FastAPI(
        title="execsvc",
        summary="Liquidation maps and execution advice for crypto perpetual futures",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.ctx = ctx
    problems.install(app)
    # Routes are matched in order: the advice bots call many times a second goes first.
    app.include_router(suggest.router)
    app.include_router(risk.router)
    app.include_router(orders.router)
    app.include_router(health.router)
    app.include_router(ui.router)  # before maps: /map/{symbol} would take .svg
    app.include_router(stream.router)
    app.include_router(maps.router)
    app.include_router(model.router)
    app.include_router(liquidations.router)
    if hot_routes:  # added first, so innermost: RequestFilter and HttpMetrics wrap it
        app.add_middleware(HotRoutes, ctx=ctx,
                           map_route=route_of(maps.router.routes, maps.get_map),
                           stop_route=route_of(suggest.router.routes, suggest.stop))
    app.add_middleware(HttpMetrics, registry=ctx.registry)
    app.add_middleware(RequestFilter, max_body_bytes=ctx.settings.max_body_bytes)
    openapi.install(app)
    return app
