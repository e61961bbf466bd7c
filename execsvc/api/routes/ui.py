"""The map as a picture: `GET /map/{symbol}.svg`, `GET /map/{symbol}/heatmap.svg` and the page
`GET /ui` (with its script, stylesheet and `GET /ui/config.json`).

The charts are rendered here from the cached documents (`execsvc.charts`, pure functions, run
in a worker thread); nothing is computed from market data. Realised liquidations, where a live
stream is ingested, are drawn too: per band under the map, as marks on the heatmap; without a
source the charts say so. Include this router before
`routes.maps`: `/map/{symbol}` would otherwise take `BTCUSDT.svg` as a symbol.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse, Response

from execsvc.api.deps import ApiContext, Ctx
from execsvc.api.problems import Problem, field_problem, problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import ExchangeQuery, LeverageQuery, SymbolPath, UiConfig, WindowQuery
from execsvc.charts import render_heatmap_svg, render_map_svg
from execsvc.charts.svg_realised import RealisedPanel
from execsvc.domain.liquidations import LiquidationEvent
from execsvc.domain.map_document import AGGREGATE_EXCHANGE, MapDocument, UnknownLeverage

router = APIRouter(tags=["charts"])

SVG_MEDIA_TYPE = "image/svg+xml"
NO_STORE = {"Cache-Control": "no-store"}
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}

Width = Annotated[int, Query(ge=320, le=2400, description="Image width in pixels")]
RangePct = Annotated[float | None, Query(
    gt=0, le=100, allow_inf_nan=False,
    description="Percent either side of the price to show; default: every band with notional")]
SVG_RESPONSES = {
    200: {"content": {SVG_MEDIA_TYPE: {"schema": {"type": "string"}}},
          "description": "The chart as an SVG image"},
    **problems(404, 503),
}


StackQuery = Annotated[Literal["leverage", "venue"], Query(
    description="Stack the bars by leverage, or by venue (each venue's share of the venues' "
                "sum; with `exchange` a venue, that venue alone); by venue takes no `leverage`")]
RealisedQuery = Annotated[bool, Query(
    description="Draw the realised liquidations of the last LIQUIDATION_SCORE_HOURS (or say "
                "why there are none)")]
HOUR_MS = 3_600_000


class SvgResponse(Response):
    media_type = SVG_MEDIA_TYPE


async def realised_panel(ctx: ApiContext, document: MapDocument) -> RealisedPanel:
    """The realised liquidations of the last hours on the document's bands, or the reason
    there are none (no source, no ingest yet)."""
    hours = ctx.settings.liquidation_score_hours
    try:
        feed = await ctx.liquidation_feed()
    except Problem as exc:
        return RealisedPanel.without_source(exc.detail)
    now = int(time.time() * 1000)
    binned = await ctx.realised_on_bands(feed["exchange"], document["symbol"], dict(document),
                                         now - hours * HOUR_MS, now)
    outside = sum(binned.below_quote) + sum(binned.above_quote)
    return RealisedPanel(hours, binned.long_quote, binned.short_quote, binned.long_count,
                         binned.short_count, outside, feed["sampling_note"])


async def realised_source(ctx: ApiContext, symbol: str) -> tuple[str | None, str | None, str]:
    """`(venue, note, cache tag)` of the heatmap's marks: the venue, its sampling caveat and
    the newest stored event's id; or no venue and the reason there is no source."""
    try:
        feed = await ctx.liquidation_feed()
    except Problem as exc:
        return None, f"realised liquidations: {exc.detail}", str(exc.extra.get("reason"))
    note = "a sample: at most one per symbol per second" if feed["sampled"] else None
    return feed["exchange"], note, str(await ctx.liquidations.last_id(feed["exchange"], symbol))


@router.get(
    "/map/{symbol}.svg",
    summary="The liquidation map as an SVG image (bars by leverage, cumulative curves, "
            "price line, clusters, legend)",
    response_class=SvgResponse,
    responses=SVG_RESPONSES,
)
async def map_svg(
    ctx: Ctx,
    symbol: SymbolPath,
    window: WindowQuery = "7d",
    exchange: ExchangeQuery = None,
    width: Width = 1200,
    height: Annotated[int, Query(ge=200, le=1600, description="Image height in pixels")] = 600,
    leverage: LeverageQuery = None,
    range_pct: RangePct = None,
    realised: RealisedQuery = True,
    stack: StackQuery = "leverage",
) -> SvgResponse:
    if stack == "venue" and leverage:
        raise field_problem("query.stack", "bars by venue show every leverage",
                            "stack=venue draws every leverage: leave out `leverage`")
    stored = await ctx.stored_map(symbol, window, exchange)
    freshness = {**ctx.freshness(stored), "max_age_s": ctx.settings.max_map_age_s}
    panel = await realised_panel(ctx, stored.document) if realised else None
    try:
        svg = await asyncio.to_thread(
            render_map_svg, stored.document, width=width, height=height, leverages=leverage,
            range_pct=range_pct, freshness=freshness, realised=panel, stack=stack,
        )
    except UnknownLeverage as exc:
        raise field_problem("query.leverage", str(exc)) from None
    headers = {**NO_STORE, "X-Map-Version": str(stored.version)}
    return SvgResponse(svg, headers=headers)


@router.get(
    "/map/{symbol}/heatmap.svg",
    summary="The liquidation map over time (time x price, colour = estimated liquidations, "
            "price path) from the worker's bounded history, as an SVG image",
    response_class=SvgResponse,
    responses=SVG_RESPONSES,
)
async def heatmap_svg(
    ctx: Ctx,
    symbol: SymbolPath,
    window: WindowQuery = "7d",
    exchange: ExchangeQuery = None,
    width: Width = 1200,
    height: Annotated[int, Query(ge=200, le=1600, description="Image height in pixels")] = 420,
    range_pct: RangePct = None,
    realised: RealisedQuery = True,
) -> SvgResponse:
    stored = await ctx.stored_map(symbol, window, exchange)
    document = stored.document
    stale = bool(ctx.freshness(stored)["stale"])
    venue, note, tag = await realised_source(ctx, document["symbol"]) if realised else (
        None, None, "")
    key = ("heatmap", document["exchange"], document["symbol"], window, stored.version, stale,
           width, height, range_pct, realised, tag)
    svg = ctx.renders.get(key)
    if svg is None:
        history = await ctx.store.history(document["exchange"], document["symbol"], window)
        events = None
        if venue is not None:
            since = int(history[0]["t_ms"]) if history else int(time.time() * 1000)
            entries, _ = await ctx.liquidations.events(
                venue, document["symbol"], since, int(time.time() * 1000),
                ctx.settings.liquidation_max_per_symbol)
            events = [LiquidationEvent.from_dict(e) for e in entries]
        svg = await asyncio.to_thread(
            render_heatmap_svg, history, symbol=document["symbol"], window=window,
            quote_currency=document["quote_currency"], width=width, height=height,
            bin_width_bps=document["bin_width_bps"], range_pct=range_pct,
            liquidations=events, liquidations_note=note, stale=stale,
        )
        ctx.renders.put(key, svg)
    return SvgResponse(svg, headers={**NO_STORE, "X-Map-Version": str(stored.version)})


@cache
def _asset(name: str) -> bytes:
    return resources.files("execsvc.ui").joinpath(name).read_bytes()


@router.get("/ui", summary="A page that draws the maps and updates itself",
            response_class=HTMLResponse, responses=problems())
async def ui_page(
    symbol: Annotated[str | None, Query(description="Symbol shown first")] = None,
    window: Annotated[str | None, Query(description="Window shown first")] = None,
    leverage: Annotated[list[str] | None, Query(description="Leverages shown (repeat)")] = None,
    range: Annotated[str | None, Query(description="Percent either side of the price: 2, 5, "
                                       "10 or 20")] = None,
    exchange: Annotated[str | None, Query(description="Map shown first: all or a venue")] = None,
    stack: Annotated[str | None, Query(description="Bars by leverage or venue")] = None,
) -> HTMLResponse:
    """The page reads its query (a bookmarkable selection) itself; values it does not know
    fall back to the defaults of `/ui/config.json`."""
    return HTMLResponse(_asset("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/ui/config.json", summary="What the page needs: symbols and their maps (`all` "
            "and each venue), windows, leverages, the age from which a map is stale",
            response_model=UiConfig, responses=problems())
async def ui_config(ctx: Ctx) -> FastJSONResponse:
    settings = ctx.settings
    exchanges = {}
    for symbol in settings.symbols:
        venues = await ctx.cache.venues_of(symbol)
        several = len(venues.exchanges) > 1
        exchanges[symbol] = [AGGREGATE_EXCHANGE, *venues.exchanges] if several else list(
            venues.exchanges)
    return FastJSONResponse({
        "symbols": settings.symbols,
        "exchanges": exchanges,
        "windows": settings.windows,
        "default_window": "7d" if "7d" in settings.windows else settings.windows[0],
        "leverages": sorted(settings.leverage_mix),
        "max_map_age_s": settings.max_map_age_s,
        "refresh_interval_s": settings.refresh_interval_s,
    }, headers=NO_STORE)


@router.get("/ui/app.js", include_in_schema=False)
async def ui_script() -> Response:
    return _asset_response("app.js")


@router.get("/ui/app.css", include_in_schema=False)
async def ui_style() -> Response:
    return _asset_response("app.css")


def _asset_response(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})
