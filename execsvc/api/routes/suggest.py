"""Advice endpoints: thin routes over cached maps and books; the logic is `execsvc.execution`."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.responses import Response

from execsvc.api.deps import ApiContext, Ctx
from execsvc.api.problems import Problem, field_problem, problems
from execsvc.api.responses import FastJSONResponse, json_head, with_last_field
from execsvc.api.schemas import (
    Calibration,
    ChildOut,
    MapRef,
    PositionFields,
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
from execsvc.domain.brackets import bracket_table
from execsvc.domain.map_document import ClusterDoc
from execsvc.domain.units import (
    LotError,
    MarketPrecision,
    PositionSide,
    decimal_text,
    position_side,
    significant,
    step_decimals,
)
from execsvc.execution.position import PositionSpec
from execsvc.execution.resilience import half_life_s
from execsvc.execution.slice_plan import SlicePlanError, plan_slices
from execsvc.execution.stops import StopParams, StopTable, suggest_stop
from execsvc.execution.take_profit import lot_split, take_profit_zones
from execsvc.liqmap.clusters import Cluster
from execsvc.maps.cache import AdviceCache, MapView
from execsvc.settings import Settings

router = APIRouter(prefix="/suggest", tags=["advice"])


_CLUSTER_FIELDS = tuple(f.name for f in fields(Cluster))


def cluster_out(cluster: Cluster) -> ClusterDoc:
    """The cluster as the document has it (a flat dict; `dataclasses.asdict` deep-copies)."""
    return {name: getattr(cluster, name) for name in _CLUSTER_FIELDS}  # type: ignore[return-value]


def checked_entry(entry_price: float | None, view: MapView, ctx: ApiContext) -> float:
    """The entry (default: the map's price); 422 when it lies outside the map's range, where
    the map says nothing about clusters."""
    if entry_price is None:
        return view.price
    reach = ctx.settings.range_pct / 100.0
    if not view.price * (1 - reach) <= entry_price <= view.price * (1 + reach):
        raise field_problem("body.entry_price", "outside the map's range",
                            f"entry_price {decimal_text(entry_price)} is outside the map's "
                            f"range ({decimal_text(view.price)} +- "
                            f"{decimal_text(ctx.settings.range_pct)} %)")
    return entry_price


def checked_quantity(quantity: float, precision: MarketPrecision) -> int:
    """`quantity` in whole lots of the map's grid; 422 naming `body.quantity` (quoting it and
    the nearest whole lots, as `/suggest/slice` does) when it is not."""
    try:
        return precision.checked_lots(quantity)
    except LotError as exc:
        raise field_problem("body.quantity", f"quantity: {exc}") from exc


def _position(body: PositionFields, symbol: str) -> PositionSpec | None:
    """The position's margin when the request gives a leverage; the symbol's maintenance
    brackets are those the risk rules and the paper engine use."""
    if body.leverage is None:
        return None
    return PositionSpec(body.leverage, body.margin_mode, bracket_table(symbol),
                        body.account_equity_quote)


_CLUSTER_DOCS = TypeAdapter(list[ClusterDoc])


def _stop_map(view: MapView, side: PositionSide, params: StopParams
              ) -> tuple[StopTable, dict[Cluster, ClusterDoc]]:
    """What every stop on `view` for `side` shares: the map's `StopTable` and its clusters as
    the answer gives them (`ClusterDoc`, validated as `StopResponse` validates them)."""
    docs = _CLUSTER_DOCS.validate_python([cluster_out(c) for c in view.clusters])
    return (StopTable.of(side, view.clusters, params),
            dict(zip(view.clusters, docs, strict=True)))


def _optional(value: float | None) -> float | None:
    return None if value is None else float(value)


def _stop_answer(body: StopRequest, symbol: str, view: MapView, book: OrderBook | None,
                 settings: Settings, cache: AdviceCache) -> dict[str, Any]:
    """The advice part of a `/suggest/stop` answer (all but `map`): a pure function of the
    request, the map version and the book version, so it is memoised on those. What every
    stop on the map shares (`_stop_map`) is memoised on the map version, so a request with
    its own entry (no memoised answer) only runs the search. The answer is `StopResponse`'s
    `model_dump` (fields in its order, numbers as its float fields hold them), built as plain
    dicts: validating the model cost about as much as the search (`tests/api/
    test_stop_answer.py` pins the two to the byte)."""
    entry = body.entry_price or view.price
    side = position_side(body.side)
    precision = view.precision
    params = StopParams(atr_multiple=settings.stop_atr_multiple,
                        min_intensity=settings.stop_min_intensity,
                        reach_atr=settings.stop_reach_atr)
    table, docs = cache.answer(("stop_map", view.document["exchange"], symbol,
                                view.document["window"], view.version, side, params),
                               lambda: _stop_map(view, side, params))
    advice = suggest_stop(
        side, entry, table, view.atr_quote,
        lambda cluster: cache.overshoot_pct(view, book, cluster), params,
        precision=precision, max_loss_pct=body.max_loss_pct, quantity=body.quantity,
        risk_quote=body.risk_quote, position=_position(body, symbol),
        quote_currency=view.document["quote_currency"],
    )
    loss = advice.loss_at_stop_quote
    return {
        "symbol": symbol,
        "side": side,
        "entry_price": float(entry),
        "stop_price": _optional(advice.stop_price),
        "no_stop_reason": advice.no_stop,
        "distance_pct": (round(advice.distance_pct, 4) if advice.distance_pct is not None
                         else None),
        "avoided_clusters": [docs[c] for c in advice.avoided_clusters],
        "buffer": {"atr": float(advice.atr_quote), "atr_multiple": float(params.atr_multiple),
                   "buffer_quote": float(significant(advice.buffer_quote)),
                   "overshoot_pct": float(round(advice.overshoot_pct, 4))},
        "clusters_that_matter": {"min_intensity": float(params.min_intensity),
                                 "reach_atr": float(params.reach_atr),
                                 "reach_quote": float(significant(advice.reach_quote))},
        "alternatives": [{"label": a.label, "stop_price": float(a.stop_price),
                          "distance_pct": float(round(a.distance_pct, 4)), "basis": a.basis}
                         for a in advice.alternatives],
        "fits_risk": advice.fits_risk,
        "fits_liquidation": advice.fits_liquidation,
        "cluster_aware_stop_price": float(advice.cluster_aware_stop_price),
        "liquidation_price": _optional(advice.liquidation_price),
        "suggested_leverage": _optional(advice.suggested_leverage),
        "suggested_quantity": _optional(advice.suggested_quantity),
        "loss_at_stop_quote": _optional(significant(loss) if loss is not None else None),
        "rationale": advice.rationale,
        "precision": {"tick_size": float(precision.tick_size),
                      "lot_size": float(precision.lot_size), "source": precision.source},
        "book_source": book.source if book else None,
    }


@router.post("/stop", response_model=StopResponse, responses=problems(400, 404, 413, 503),
             summary="Stop-loss beyond liquidation clusters, inside the liquidation price")
async def stop(body: StopRequest, ctx: Ctx) -> Response:
    """Bots call this many times a second: the answer is memoised per (request, map version,
    book version) and only the map's age is filled in per call."""
    return await stop_answer(ctx, body)


async def stop_answer(ctx: ApiContext, body: StopRequest) -> Response:
    """The answer of `POST /suggest/stop` to a valid body; raises `Problem` (404, 422, 503)
    naming the field. The route and the hot-path dispatch (`api.hot_routes`) both answer with
    it. The memo holds the advice as JSON bytes (`responses.json_head`)."""
    symbol, view, book = await ctx.fresh_map(body.symbol, body.window, body.exchange)
    checked_entry(body.entry_price, view, ctx)
    key = ("stop", body, symbol, view.document["window"], view.version,
           book.version if book else None)
    head = ctx.cache.answer(
        key, lambda: json_head(_stop_answer(body, symbol, view, book, ctx.settings, ctx.cache)))
    return with_last_field(head, "map", ctx.map_ref_fields(view))


@router.post("/take-profit", response_model=TakeProfitResponse,
             responses=problems(400, 404, 413, 503),
             summary="Take-profit zones in front of opposite-side clusters, nearest first")
async def take_profit(body: TakeProfitRequest, ctx: Ctx) -> TakeProfitResponse:
    symbol, view, _ = await ctx.fresh_map(body.symbol, body.window, body.exchange)
    entry = checked_entry(body.entry_price, view, ctx)
    side = position_side(body.side)
    precision = view.precision
    if body.quantity is not None:
        checked_quantity(body.quantity, precision)
    zones = take_profit_zones(side, entry, view.clusters, view.atr_quote,
                              view.band_width_quote, body.max_zones, precision=precision)
    quantities = (lot_split([z.size_fraction for z in zones], body.quantity, precision)
                  if zones and body.quantity else [None] * len(zones))
    position = _position(body, symbol)
    liquidation = position.liquidation_price(side, entry, body.quantity) if position else None
    opposite = "short" if side == "long" else "long"
    where = "above" if side == "long" else "below"
    rationale = (
        f"{len(zones)} zone(s) in front of {opposite}-liquidation clusters {where} "
        f"{entry:,.{step_decimals(precision.tick_size)}f}, nearest first; each takes its share "
        "of notional / (1 + distance %) of the position; targets sit before each cluster's near "
        "edge so resting orders fill as forced orders arrive."
        if zones else f"no {opposite}-liquidation cluster lies {where} the entry on this map."
    )
    return TakeProfitResponse(
        symbol=symbol,
        side=side,
        entry_price=entry,
        zones=[
            Zone(
                price_low=z.price_low, price_high=z.price_high, target_price=z.target_price,
                size_fraction=significant(z.size_fraction), quantity=quantity,
                cluster=cluster_out(z.cluster), distance_pct=round(z.distance_pct, 4),
            )
            for z, quantity in zip(zones, quantities, strict=True)
        ],
        liquidation_price=(precision.price_toward(liquidation, entry)
                           if liquidation is not None else None),
        rationale=rationale,
        precision=precision.to_json(),
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
            precision=view.precision, quote_currency=quote,
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
            plan_bps=significant(plan.plan_slippage_bps, 6),
            plan_if_limits_unfilled_bps=significant(plan.plan_slippage_bps_if_limits_unfilled, 6),
            market_order_bps=significant(plan.market_slippage_bps, 6),
            market_order_extrapolated=plan.market_extrapolated,
            twap_bps=significant(plan.twap_slippage_bps, 6),
            plan_timing_risk_quote=significant(plan.plan_timing_risk_quote, 6),
            twap_timing_risk_quote=significant(plan.twap_timing_risk_quote, 6),
        ),
        calibration=Calibration(eta=significant(plan.eta, 6),
                                epsilon=significant(plan.epsilon),
                                sigma_quote_per_sqrt_s=significant(plan.sigma, 6),
                                volume_rate_base_per_s=significant(volume_rate, 6),
                                risk_aversion=plan.risk_aversion,
                                book_half_life_s=round(half_life_s(plan.resilience_rate_per_s),
                                                       3)),
        notes=list(plan.notes), precision=plan.precision.to_json(), book_source=book.source,
        map=MapRef(version=view.version, age_s=0.0, stale=False,
                   exchange=view.document["exchange"]),
    ).model_dump(exclude={"map"})


@router.post("/slice", response_model=SliceResponse, responses=problems(400, 404, 413, 503),
             summary="Child orders for a large order: Almgren-Chriss, TWAP or POV, cluster-aware")
async def slice_order(body: SliceRequest, ctx: Ctx) -> FastJSONResponse:
    symbol, view, book = await ctx.fresh_map(body.symbol, body.window, body.exchange)
    if book is None:
        raise Problem(503, f"no order book for {symbol} yet", reason="book_missing")
    key = ("slice", body, symbol, view.document["window"], view.version, book.version)
    answer = await ctx.cache.answer_in_thread(
        key, lambda: _slice_answer(body, symbol, view, book))
    return FastJSONResponse({**answer, "map": ctx.map_ref(view).model_dump()})
