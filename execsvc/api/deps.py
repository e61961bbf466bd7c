"""Everything the routes use, reached one way: the app's `ApiContext`, as the dependency `Ctx`.

`ApiContext` is built once by the composition root (`execsvc.runtime`) and holds the settings,
the band store, the read cache, the liquidation store, the risk policy and gate, the order
venue, the metrics and the shared map feed; its methods are the lookups every route shares
(known symbol and window, the venue a symbol is stored under, the stored map, the fresh map
advice needs, the liquidation feed and its online score), each failing with the problem
document that names the offending field or the missing source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import numpy as np
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry

from execsvc.api.map_body import MapBodies, MapBody
from execsvc.api.map_feed import MapFeed
from execsvc.api.metrics import LiquidationMetrics, StoreMetrics
from execsvc.api.problems import Problem, field_problem
from execsvc.api.render_cache import RenderCache
from execsvc.api.schemas import MapRef
from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import bracket_table
from execsvc.domain.map_document import (
    AGGREGATE_EXCHANGE,
    Freshness,
    document_stale_reason,
    freshness,
)
from execsvc.liqmap.online_score import summarise
from execsvc.liqmap.realised_bands import RealisedBands, realised_by_band
from execsvc.maps.cache import AdviceCache, MapView
from execsvc.maps.liquidations import feed_health, no_source_reason
from execsvc.risk.gate import RiskGate
from execsvc.risk.policy import Policy
from execsvc.risk.rules import RiskContext
from execsvc.settings import Settings
from execsvc.store import BandStore, StoredMap, StoreUnavailable
from execsvc.store.liquidation_store import LiquidationStore
from execsvc.venues.base import OrderVenue


@dataclass
class ApiContext:
    settings: Settings
    store: BandStore
    registry: CollectorRegistry
    cache: AdviceCache
    liquidations: LiquidationStore
    policy: Policy
    risk_gate: RiskGate
    venue: OrderVenue
    store_metrics: StoreMetrics = field(init=False)
    liquidation_metrics: LiquidationMetrics = field(init=False)
    feed: MapFeed = field(init=False)
    renders: RenderCache = field(init=False)
    map_bodies: MapBodies = field(init=False)

    def __post_init__(self) -> None:
        self.store_metrics = StoreMetrics(self.registry)
        self.liquidation_metrics = LiquidationMetrics(self.registry)
        self.feed = MapFeed(self.store)
        self.renders = RenderCache()
        self.map_bodies = MapBodies()

    def known_symbol(self, symbol: str, where: str = "path.symbol") -> str:
        """The configured symbol key (upper case), or 404 naming the field `where`."""
        key = symbol.upper()
        if key not in self.settings.symbols:
            raise Problem(
                404, f"unknown symbol {symbol!r}; configured: {', '.join(self.settings.symbols)}",
                field=where, reason="unknown_symbol",
            )
        return key

    def known_window(self, window: str, where: str = "query.window") -> str:
        if window not in self.settings.windows:
            raise field_problem(
                where, "window not configured",
                f"window {window!r} is not computed; configured: "
                f"{', '.join(self.settings.windows)}",
            )
        return window

    async def map_exchange(self, symbol: str, exchange: str | None,
                           where: str = "query.exchange") -> str:
        """The exchange key of the map to read: `exchange` when it is one of the symbol's
        venues; for `all`, the venues' sum (the one venue's own map when there is only one:
        a single venue is its own sum); by default the sum with several venues, else the
        venue; 404 naming `where` for any other name."""
        venues = await self.cache.venues_of(symbol)
        if exchange is None:
            return venues.default_map
        if exchange == AGGREGATE_EXCHANGE:
            return AGGREGATE_EXCHANGE if len(venues.exchanges) > 1 else venues.exchanges[0]
        if exchange not in venues.exchanges:
            known = ", ".join((AGGREGATE_EXCHANGE, *venues.exchanges))
            raise Problem(404, f"{symbol} has no map on {exchange}; it has: {known}",
                          field=where, reason="unknown_exchange")
        return exchange

    def freshness(self, stored: StoredMap) -> Freshness:
        return freshness(stored.document, stored.version, stored.computed_at_ms,
                         time.time() * 1000, self.settings.max_map_age_s)

    async def stored_map(self, symbol: str, window: str, exchange: str | None) -> StoredMap:
        """The cached map, or 404/422 for bad names and 503 when there is none yet."""
        key = self.known_symbol(symbol)
        self.known_window(window)
        venue = await self.map_exchange(key, exchange)
        stored = await self.store.get_map(venue, key, window)
        if stored is None:
            raise _map_missing(key, window, venue)
        return stored

    async def map_body(self, symbol: str, window: str, exchange: str | None) -> MapBody:
        """`stored_map` as stored bytes (`api.map_body`): nothing read within the advice
        cache's `revalidate_s`, then one small read of the freshness fields, and the document
        itself only when its version is not the one held."""
        key = self.known_symbol(symbol)
        self.known_window(window)
        venue = await self.map_exchange(key, exchange)
        ident = (venue, key, window)
        held = self.map_bodies.trusted(ident, self.cache.revalidate_s)
        if held is not None:
            return held
        fresh = await self.store.map_freshness(*ident)
        held = None if fresh is None else self.map_bodies.revalidated(ident, fresh)
        if held is not None:
            return held
        found = await self.store.map_json(*ident)
        if found is None:
            raise _map_missing(key, window, venue)
        document, fresh = found
        return self.map_bodies.put(ident, MapBody.of(fresh, document))

    async def fresh_map(
        self, symbol: str, window: str, exchange: str | None, where: str = "body"
    ) -> tuple[str, MapView, OrderBook | None]:
        """The symbol key, its fresh map (`map_exchange`: the venues' sum by default) and the
        latest book for advice (the map's venue's; for the sum, its `stats_exchange`'s);
        404/422 for bad names (fields under `where`), 503 for a missing or stale map (advice
        on an old map would mislead)."""
        key = self.known_symbol(symbol, f"{where}.symbol")
        self.known_window(window, f"{where}.window")
        venue = await self.map_exchange(key, exchange, f"{where}.exchange")
        view = await self.cache.map_view(venue, key, window)
        if view is None:
            raise Problem(503, f"no map for {key} {window} on {venue} yet",
                          reason="map_missing")
        limit = self.settings.max_map_age_s
        reason = document_stale_reason(view.document, view.age_s(), limit)
        if reason == "map_stale":
            raise Problem(
                503, f"the {key} {window} map is {view.age_s():.0f} s old (limit {limit:g} s): "
                "the worker is not refreshing it", reason="map_stale",
            )
        if reason == "data_stale":
            lag = view.document["stats"]["data_lag_s"]
            raise Problem(503, f"the {key} market data stopped: its newest candle closed "
                          f"{lag:.0f} s before the source's clock", reason="data_stale")
        book_venue = view.document.get("stats_exchange") or venue
        return key, view, await self.cache.book(book_venue, key)

    async def policy_map(self, symbol: str, exchange: str | None, where: str = "body"
                         ) -> tuple[str, MapView, OrderBook | None]:
        """`fresh_map` of the window the risk policy reads; 503 when it is not computed."""
        window = self.policy.map_window
        if window not in self.settings.windows:
            raise Problem(503, f"policy {self.policy.label} reads the {window} map, which is "
                          "not computed (EXECSVC_WINDOWS)", reason="policy_window_missing")
        return await self.fresh_map(symbol, window, exchange, where)

    async def risk_context(self, key_id: str | None, symbol: str, view: MapView) -> RiskContext:
        """What the risk rules read: the map's price as the mark, its clusters, the symbol's
        brackets and the position `key_id` holds at the venue (none without a key)."""
        position = None if key_id is None else await self.venue.position(key_id, symbol)
        return RiskContext(
            mark_price=view.price, brackets=bracket_table(symbol), clusters=view.clusters,
            position=position,
            quote_currency=view.document["quote_currency"],
        )

    async def order_map(self, symbol: str, reduce_only: bool, exchange: str | None = None
                        ) -> MapView | None:
        """The map an order is judged on: the fresh map of the policy's window on `exchange`
        (`map_exchange`; 503 when it is missing or stale), except for a reduce-only order,
        which only closes exposure and must stay possible when the worker stopped: the last
        map however old, or None once it expired."""
        try:
            _, view, _ = await self.policy_map(symbol, exchange)
        except Problem as problem:
            if not reduce_only or problem.status != 503:
                raise
        else:
            return view
        venue = await self.map_exchange(symbol, exchange, "body.exchange")
        return await self.cache.map_view(venue, symbol, self.policy.map_window)

    async def order_context(self, key_id: str, symbol: str, view: MapView | None
                            ) -> RiskContext:
        """`risk_context` on `view`; without a map (a reduce-only order after the maps
        expired) at the last price the worker stored, no clusters (503 when no price was
        ever stored)."""
        if view is not None:
            return await self.risk_context(key_id, symbol, view)
        last = await self.cache.last_price(symbol)
        if last is None:
            raise Problem(503, f"no price for {symbol} has been stored yet", reason="no_price")
        return RiskContext(mark_price=last.price, brackets=bracket_table(symbol),
                           position=await self.venue.position(key_id, symbol))

    # ---- realised liquidations ------------------------------------------------------------

    def liquidation_venue(self, exchange: str | None, where: str = "query.exchange") -> str:
        """The venue liquidations are ingested from; 404 when `exchange` names another."""
        venue = self.settings.exchange
        if exchange and exchange != venue:
            raise Problem(404, f"liquidations are ingested from {venue}, not {exchange}",
                          field=where, reason="unknown_exchange")
        return venue

    async def liquidation_feed(self) -> dict[str, Any]:
        """The ingest's health; 503 `no_liquidation_source` when this configuration has no
        liquidation stream (replay mode: nothing happened is not what empty data would mean
        there), `liquidation_feed_missing` when no ingest has reported yet."""
        reason = no_source_reason(self.settings)
        if reason is not None:
            raise Problem(503, reason, reason="no_liquidation_source")
        venue = self.settings.exchange
        found = await self.liquidations.status(venue)
        if found is None:
            raise Problem(
                503, f"no liquidation ingest has reported for {venue} yet: run `execsvc "
                "liquidations` beside the worker (`execsvc serve` runs it in-process)",
                reason="liquidation_feed_missing")
        return feed_health(*found, now_ms=int(time.time() * 1000),
                           heartbeat_s=self.settings.liquidation_heartbeat_s)

    async def realised_on_bands(self, venue: str, symbol: str, document: dict[str, Any],
                                since_ms: int, until_ms: int) -> RealisedBands:
        """The stored events of `[since_ms, until_ms]` binned on the document's bands."""
        events, _ = await self.liquidations.events(
            venue, symbol, since_ms, until_ms, self.settings.liquidation_max_per_symbol)
        bands = document["bands"]
        return realised_by_band(
            np.array([b["price_low"] for b in bands], dtype=np.float64),
            np.array([b["price_high"] for b in bands], dtype=np.float64),
            [e["side"] for e in events], [e["price"] for e in events],
            [e["notional_quote"] for e in events])

    async def online_score(self) -> dict[str, Any]:
        """The rolling online score of every symbol, or why there is none."""
        reason = no_source_reason(self.settings)
        if reason is not None:
            return {"available": False, "reason": reason}
        venue = self.settings.exchange
        try:
            feed = await self.liquidation_feed()
            symbols = {symbol: summarise(await self.liquidations.score_totals(venue, symbol))
                       for symbol in self.settings.symbols}
        except Problem as exc:
            return {"available": False, "reason": exc.detail, "exchange": venue}
        except StoreUnavailable as exc:
            return {"available": False, "reason": str(exc), "exchange": venue}
        return {"available": True, "exchange": venue, "map_window": self.settings.score_window,
                "window_hours": self.settings.liquidation_score_hours, "feed": feed,
                "symbols": symbols}

    def map_ref(self, view: MapView) -> MapRef:
        return MapRef(**self.map_ref_fields(view))

    def map_ref_fields(self, view: MapView) -> dict[str, Any]:
        """`map_ref` as the plain dict its `model_dump` gives (version, age_s, stale,
        exchange)."""
        age = view.age_s()
        stale = document_stale_reason(view.document, age, self.settings.max_map_age_s)
        return {"version": view.version, "age_s": round(age, 3), "stale": stale is not None,
                "exchange": view.document["exchange"]}


def _map_missing(symbol: str, window: str, venue: str) -> Problem:
    return Problem(503, f"no map for {symbol} {window} on {venue} yet: the worker has not "
                   "stored one (starting, or failing: see /readyz)", reason="map_missing")


async def get_context(request: Request) -> ApiContext:
    """The app's context (a coroutine: FastAPI would run a plain function in its thread
    pool, a hand-off that cost every route using `Ctx` about a fifth of its time)."""
    return request.app.state.ctx


Ctx = Annotated[ApiContext, Depends(get_context)]


def _repeatable(annotation: Any) -> bool:
    """True when a query parameter of this type takes several values (`list[float]`, also
    inside `Annotated` or `| None`)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _repeatable(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_repeatable(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset)


def _declared_query(dependant: Dependant) -> dict[str, bool]:
    """Each query parameter `dependant` and its dependencies declare: whether it repeats."""
    names = {param.alias: _repeatable(param.field_info.annotation)
             for param in dependant.query_params}
    for sub in dependant.dependencies:
        names.update(_declared_query(sub))
    return names


def _query_names(route: APIRoute) -> dict[str, bool]:
    """The query parameters `route` and its dependencies declare, each with whether it takes
    several values (kept on the route)."""
    names = getattr(route, "execsvc_query_names", None)
    if names is None:
        names = _declared_query(route.dependant)
        route.execsvc_query_names = names  # type: ignore[attr-defined]
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 naming every query parameter the route does not declare (`?windw=1d` is a typo,
    not a request for the default window), and every one given twice that takes one value
    (`?window=1d&window=7d` would silently serve the last)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    declared = _query_names(route)
    given = [name for name, _ in request.query_params.multi_items()]
    unknown = sorted({name for name in given if name not in declared})
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise Problem(422, f"unknown query parameter(s): {', '.join(unknown)}",
                      errors=[{"field": f"query.{name}", "type": "extra_forbidden",
                               "message": f"unknown query parameter; this route takes: {known}"}
                              for name in unknown])
    repeated = sorted({name for name in given if given.count(name) > 1 and not declared[name]})
    if repeated:
        raise Problem(422, f"query parameter(s) given more than once: {', '.join(repeated)}",
                      errors=[{"field": f"query.{name}", "type": "repeated",
                               "message": "given more than once; this parameter takes one "
                                          "value"} for name in repeated])
