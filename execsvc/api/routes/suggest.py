"""Advice endpoints: thin routes over cached maps and books; the logic is `execsvc.execution`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from execsvc.api.deps import ApiContext, Ctx
from execsvc.api.problems import Problem, field_problem, problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import (
    Alternative,
    Buffer,
    Calibration,
    ChildOut,
    MapRef,
    SliceRequest,
    SliceResponse,
    SliceSlippage,
    StopRequest,
    StopResponse,
    TakeProfitRequest,
    TakeProfitResponse,
    Zone,
)
from execsvc.domain.book import OrderBook
from execsvc.domain.map_document import ClusterDoc
from execsvc.domain.units import price_decimals
from execsvc.execution.slice_plan import SlicePlanError, plan_slices
from execsvc.execution.stops import StopParams, suggest_stop
from execsvc.execution.take_profit import take_profit_zones
from execsvc.liqmap.clusters import Cluster
from execsvc.maps.cache import AdviceCache, MapView
from execsvc.settings import Settings

router = APIRouter(prefix="/suggest", tags=["advice"])


def cluster_out(cluster: Cluster) -> ClusterDoc:
    return ClusterDoc(**asdict(cluster))


def checked_entry(entry_price: float | None, view: MapView, ctx: ApiContext) -> float:
    """The entry (default: the map's price); 422 when it lies outside the map's range, where
    the map says nothing about clusters."""
    if entry_price is None:
        return view.price
    reach = ctx.settings.range_pct / 100.0
    if not view.price * (1 - reach) <= entry_price <= view.price * (1 + reach):
        raise field_problem("body.entry_price", "outside the map's range",
                            f"entry_price {entry_price:g} is outside the map's range "
                            f"({view.price:g} +- {ctx.settings.range_pct:g} %)")
    return entry_price


def _stop_answer(body: StopRequest, symbol: str, view: MapView, book: OrderBook | None,
                 settings: Settings, cache: AdviceCache) -> dict[str, Any]:
    """The advice part of a `/suggest/stop` answer (all but `map`), a pure function of the
    request, the map version and the book version, so it is memoised on those."""
    entry = body.entry_price or view.price
    params = StopParams(atr_multiple=settings.stop_atr_multiple,
                        min_intensity=settings.stop_min_intensity)
    advice = suggest_stop(
        body.side, entry, view.clusters, view.atr_quote,
        lambda cluster: cache.overshoot_pct(view, book, cluster), params,
        max_loss_pct=body.max_loss_pct, quantity=body.quantity, risk_quote=body.risk_usd,
        quote_currency=view.document["quote_currency"],
    )
    digits = price_decimals(view.price)
    return StopResponse(
        symbol=symbol,
        side=body.side,
        entry_price=entry,
        stop_price=round(advice.stop_price, digits),
        distance_pct=round(advice.distance_pct, 4),
        avoided_clusters=[cluster_out(c) for c in advice.avoided_clusters],
        buffer=Buffer(atr=advice.atr_quote, atr_multiple=params.atr_multiple,
                      buffer_quote=advice.buffer_quote,
                      overshoot_pct=round(advice.overshoot_pct, 4)),
        alternatives=[
            Alternative(label=a.label, stop_price=round(a.stop_price, digits),
                        distance_pct=round(a.distance_pct, 4))
            for a in advice.alternatives
        ],
        fits_risk=advice.fits_risk,
        cluster_aware_stop_price=round(advice.cluster_aware_stop_price, digits),
        suggested_quantity=advice.suggested_quantity,
        loss_at_stop_quote=advice.loss_at_stop_quote,
        rationale=advice.rationale,
        book_source=book.source if book else None,
        map=MapRef(version=view.version, age_s=0.0, stale=False),
    ).model_dump(exclude={"map"})


@router.post("/stop", response_model=StopResponse, responses=problems(400, 404, 503),
             summary="Stop-loss beyond liquidation clusters")
async def stop(body: StopRequest, ctx: Ctx) -> FastJSONResponse:
    """Bots call this many times a second: the answer is memoised per (request, map version,
    book version) and only the map's age is filled in per call."""
    symbol, view, book = await ctx.fresh_map(body.symbol, body.window, body.exchange)
    checked_entry(body.entry_price, view, ctx)
    key = ("stop", body, symbol, view.document["window"], view.version,
           book.version if book else None)
    answer = ctx.cache.answer(
        key, lambda: _stop_answer(body, symbol, view, book, ctx.settings, ctx.cache))
    return FastJSONResponse({**answer, "map": ctx.map_ref(view).model_dump()})


@router.post("/take-profit", response_model=TakeProfitResponse, responses=problems(400, 404, 503),
             summary="Take-profit zones in front of opposite-side clusters")
async def take_profit(body: TakeProfitRequest, ctx: Ctx) -> TakeProfitResponse:
    symbol, view, _ = await ctx.fresh_map(body.symbol, body.window, body.exchange)
    entry = checked_entry(body.entry_price, view, ctx)
    zones = take_profit_zones(body.side, entry, view.clusters, view.atr_quote,
                              view.band_width_quote, body.max_zones)
    digits = price_decimals(view.price)
    opposite = "short" if body.side == "long" else "long"
    where = "above" if body.side == "long" else "below"
    rationale = (
        f"{len(zones)} zone(s) in front of {opposite}-liquidation clusters {where} "
        f"{entry:,.{digits}f}, sized by notional over distance; targets sit before each "
        "cluster's near edge so resting orders fill as forced orders arrive."
        if zones else f"no {opposite}-liquidation cluster lies {where} the entry on this map."
    )
    return TakeProfitResponse(
        symbol=symbol,
        side=body.side,
        entry_price=entry,
        zones=[
            Zone(
                price_low=z.price_low, price_high=z.price_high,
                target_price=round(z.target_price, digits),
                size_fraction=z.size_fraction,
                quantity=body.quantity * z.size_fraction if body.quantity else None,
                cluster=cluster_out(z.cluster), distance_pct=round(z.distance_pct, 4),
            )
            for z in zones
        ],
        rationale=rationale,
        map=ctx.map_ref(view),
    )


def _slice_answer(body: SliceRequest, symbol: str, view: MapView, book: OrderBook
                  ) -> dict[str, Any]:
    stats = view.document["stats"]
    sigma = stats.get("sigma_quote_per_sqrt_s")
    volume_rate = stats.get("volume_rate_base_per_s")
    if sigma is None or volume_rate is None:
        raise Problem(503, f"the {symbol} map carries no volatility figures yet",
                      reason="stats_missing")
    quote = view.document["quote_currency"]
    try:
        plan = plan_slices(
            book, body.side, body.quantity, body.horizon_s, body.strategy,
            body.risk_aversion, body.max_participation, sigma_quote_per_sqrt_s=sigma,
            volume_rate_base_per_s=volume_rate, clusters=view.clusters, price=view.price,
            quote_currency=quote,
        )
    except SlicePlanError as exc:
        raise field_problem(f"body.{exc.field}", str(exc)) from exc
    return SliceResponse(
        symbol=symbol, side=body.side, quantity=body.quantity, horizon_s=body.horizon_s,
        strategy_used=plan.strategy_used, n_slices=plan.n_slices,
        slice_interval_s=plan.slice_interval_s,
        children=[ChildOut(t_offset_s=c.t_offset_s, quantity=c.quantity,
                           order_type=c.order_type, limit_price=c.limit_price, reason=c.reason)
                  for c in plan.children],
        slippage=SliceSlippage(
            plan_bps=plan.plan_slippage_bps,
            plan_if_limits_unfilled_bps=plan.plan_slippage_bps_if_limits_unfilled,
            market_order_bps=plan.market_slippage_bps, twap_bps=plan.twap_slippage_bps,
        ),
        calibration=Calibration(eta=plan.eta, epsilon=plan.epsilon,
                                sigma_quote_per_sqrt_s=plan.sigma,
                                volume_rate_base_per_s=volume_rate,
                                risk_aversion=plan.risk_aversion),
        notes=list(plan.notes), book_source=book.source,
        map=MapRef(version=view.version, age_s=0.0, stale=False),
    ).model_dump(exclude={"map"})


@router.post("/slice", response_model=SliceResponse, responses=problems(400, 404, 503),
             summary="Child orders for a large order: Almgren-Chriss, TWAP or POV, cluster-aware")
async def slice_order(body: SliceRequest, ctx: Ctx) -> FastJSONResponse:
    symbol, view, book = await ctx.fresh_map(body.symbol, body.window, body.exchange)
    if book is None:
        raise Problem(503, f"no order book for {symbol} yet", reason="book_missing")
    key = ("slice", body, symbol, view.document["window"], view.version, book.version)
    answer = ctx.cache.answer(key, lambda: _slice_answer(body, symbol, view, book))
    return FastJSONResponse({**answer, "map": ctx.map_ref(view).model_dump()})
