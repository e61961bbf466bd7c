"""Realised liquidations: `GET /liquidations/{symbol}` (the stored events, each with the map it
was scored against) and `GET /liquidations/{symbol}/bands` (per-side totals on the current
map's bands, beside its predicted notional).

Both say where the events come from: the feed's health (state, reconnects, skipped frames),
the coverage gaps of the window, and whether the venue's stream is a sample (Binance sends at
most one liquidation per symbol per second, so its counts and totals are lower bounds). In
replay mode there is no stream: both answer 503 `no_liquidation_source` rather than an empty
list that would read as "nothing was liquidated".
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from execsvc.api.deps import Ctx
from execsvc.api.problems import field_problem, problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import (
    EpochMsQuery,
    LiquidationBandsResponse,
    LiquidationLimit,
    LiquidationsResponse,
    SymbolPath,
    VenueQuery,
    WindowQuery,
)
from execsvc.domain.units import iso_utc

router = APIRouter(tags=["liquidations"])

HOUR_MS = 3_600_000


def time_window(since_ms: int | None, until_ms: int | None, default_hours: int
                ) -> tuple[int, int]:
    """`[since, until]` in epoch ms: until defaults to now, since to `default_hours` before
    until; 422 naming `query.until` when it lies before `since`."""
    until = int(time.time() * 1000) if until_ms is None else until_ms
    since = max(0, until - default_hours * HOUR_MS) if since_ms is None else since_ms
    if until < since:
        raise field_problem("query.until", "until must not be before since",
                            f"until={until} lies before since={since}")
    return since, until


def _event(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("time_ms", "side", "price", "quantity_base", "notional_quote", "event_id",
            "received_ms", "map", "score", "unscored_reason")
    return {**{k: entry.get(k) for k in keys}, "time": iso_utc(entry["time_ms"])}


@router.get("/liquidations/{symbol}", summary="Realised liquidations of a symbol, as ingested "
            "from the venue's stream, each with the map it was scored against",
            response_model=LiquidationsResponse, responses=problems(404, 503))
async def liquidations(
    ctx: Ctx,
    symbol: SymbolPath,
    since: EpochMsQuery = None,
    until: EpochMsQuery = None,
    limit: LiquidationLimit = 1000,
    exchange: VenueQuery = None,
) -> FastJSONResponse:
    """Events with `since <= time_ms <= until` (default: the last `LIQUIDATION_SCORE_HOURS`),
    oldest first, at most `limit`; when more matched, `truncated` is true and `next_since_ms`
    continues without repeats. `gaps` lists the intervals of the window in which the ingest
    received nothing (disconnects, no ingest running)."""
    key = ctx.known_symbol(symbol)
    venue = ctx.liquidation_venue(exchange)
    since_ms, until_ms = time_window(since, until, ctx.settings.liquidation_score_hours)
    feed = await ctx.liquidation_feed()
    events, more = await ctx.liquidations.events(venue, key, since_ms, until_ms, limit)
    gaps = await ctx.liquidations.gaps(venue, since_ms, until_ms)
    return FastJSONResponse({
        "symbol": key, "exchange": venue, "since_ms": since_ms, "until_ms": until_ms,
        "count": len(events), "truncated": more,
        "next_since_ms": events[-1]["time_ms"] + 1 if more else None,
        "feed": feed, "gaps": [asdict(g) for g in gaps],
        "liquidations": [_event(e) for e in events],
    })


@router.get("/liquidations/{symbol}/bands", summary="Realised liquidations per side on the "
            "current map's bands, beside the notional the map predicts there",
            response_model=LiquidationBandsResponse, responses=problems(404, 503))
async def liquidation_bands(
    ctx: Ctx,
    symbol: SymbolPath,
    window: WindowQuery = "7d",
    since: EpochMsQuery = None,
    until: EpochMsQuery = None,
    exchange: VenueQuery = None,
) -> FastJSONResponse:
    """The events of `[since, until]` (default: the last `LIQUIDATION_SCORE_HOURS`) put on the
    bands of the current `window` map; events outside its range are totalled apart. The map
    is today's: each event's own score used the map of its moment (`GET /liquidations`)."""
    key = ctx.known_symbol(symbol)
    venue = ctx.liquidation_venue(exchange)
    since_ms, until_ms = time_window(since, until, ctx.settings.liquidation_score_hours)
    feed = await ctx.liquidation_feed()
    stored = await ctx.stored_map(key, window, None)
    document = stored.document
    binned = await ctx.realised_on_bands(venue, key, document, since_ms, until_ms)
    gaps = await ctx.liquidations.gaps(venue, since_ms, until_ms)
    fresh = ctx.freshness(stored)
    bands = [{
        "price_low": band["price_low"], "price_high": band["price_high"],
        "predicted_long_notional_quote": band["long_notional_quote"],
        "predicted_short_notional_quote": band["short_notional_quote"],
        "realised_long_notional_quote": round(float(binned.long_quote[i]), 2),
        "realised_short_notional_quote": round(float(binned.short_quote[i]), 2),
        "realised_long_count": int(binned.long_count[i]),
        "realised_short_count": int(binned.short_count[i]),
    } for i, band in enumerate(document["bands"])]
    return FastJSONResponse({
        "symbol": key, "exchange": venue,
        "map": {"window": window, "version": stored.version,
                "computed_at_ms": stored.computed_at_ms,
                "model_version": document.get("model_version", ""), "price": document["price"],
                "age_s": fresh["age_s"], "stale": fresh["stale"]},
        "since_ms": since_ms, "until_ms": until_ms, "feed": feed,
        "gaps": [asdict(g) for g in gaps],
        "totals": {
            "realised_long_notional_quote": round(float(binned.long_quote.sum()), 2),
            "realised_short_notional_quote": round(float(binned.short_quote.sum()), 2),
            "realised_long_count": int(binned.long_count.sum()),
            "realised_short_count": int(binned.short_count.sum()),
            "below_range_long_notional_quote": round(binned.below_quote[0], 2),
            "below_range_short_notional_quote": round(binned.below_quote[1], 2),
            "above_range_long_notional_quote": round(binned.above_quote[0], 2),
            "above_range_short_notional_quote": round(binned.above_quote[1], 2),
        },
        "bands": bands,
    })
