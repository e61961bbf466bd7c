"""Composition root: settings -> market source, store, order venue, worker, app.

Every object built from settings is built here (no adapter reads `Settings` itself), and each
start-up states in one log line per part what it runs: store, source, symbols, windows,
policy and trading mode (`log_startup`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from execsvc.market.types import MarketSource
from execsvc.risk.gate import RiskGate
from execsvc.risk.policy import Policy, load_policies_dir
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.connection import connect, describe_store, is_embedded

log = logging.getLogger("execsvc")


def ccxt_source(settings: Settings, **overrides: Any):
    """A `CcxtSource` for `settings` (exchange, symbols, timeframe, timeout, keys); keyword
    `overrides` (e.g. `base_url`) win."""
    from execsvc.market.ccxt_source import CcxtSource

    options: dict[str, Any] = {
        "exchange_id": settings.exchange,
        "timeframe": settings.ccxt_timeframe,
        "timeout_ms": settings.ccxt_timeout_ms,
        "api_key": settings.exchange_api_key,
        "secret": settings.exchange_secret,
        "base_url": settings.exchange_base_url,
    }
    options.update(overrides)
    return CcxtSource(options.pop("symbols", settings.symbols), **options)


def make_source(settings: Settings, data_dir: Path | None = None) -> MarketSource:
    """The configured market source; `data_dir` selects a user's CSV files instead."""
    if data_dir is not None:
        from execsvc.market.csv_source import CsvSource

        return CsvSource(data_dir, symbol=settings.symbols[0])
    if settings.source == "ccxt":
        from execsvc.market.incremental import IncrementalHistory

        return IncrementalHistory(ccxt_source(settings))
    from execsvc.market.replay import ReplaySource

    return ReplaySource(speed=settings.replay_speed, symbols=settings.symbols)


def make_market_sources(settings: Settings, store: BandStore,
                        **overrides: Any) -> dict[str, MarketSource]:
    """Venue id -> source for every configured venue (`market.sources`), venues without an
    open-interest history keeping their polled samples in the store (`maps.oi_history`):
    at most the longest window, one sample per candle interval. `overrides` reach
    `build_market_sources` (tests: `clock`, `retry_attempts`, `replay_clock`). Replayed
    venues carry their recorded history: nothing to poll, and ccxt is not loaded."""
    from execsvc.market.sources import build_market_sources

    if settings.source != "ccxt":
        return build_market_sources(settings, **overrides)
    import ccxt

    from execsvc.maps.oi_history import keep_polled_open_interest
    from execsvc.store.oi_samples import OpenInterestSamples

    retention_s = max(settings.window_seconds.values())
    interval_s = ccxt.Exchange.parse_timeframe(settings.ccxt_timeframe)
    samples = OpenInterestSamples(store.redis, retention_ms=retention_s * 1000,
                                  max_samples=int(retention_s / interval_s) + 1,
                                  prefix=store.prefix)
    return keep_polled_open_interest(build_market_sources(settings, **overrides), samples)


def make_store(settings: Settings) -> BandStore:
    return BandStore(connect(settings), ttl_s=settings.map_ttl_s)


def make_liquidation_store(settings: Settings, store: BandStore):
    """Realised liquidations on the band store's connection."""
    from execsvc.store.liquidation_store import LiquidationStore

    return LiquidationStore(
        store.redis, retention_s=settings.liquidation_retention_h * 3600,
        max_per_symbol=settings.liquidation_max_per_symbol,
        score_hours=settings.liquidation_score_hours, prefix=store.prefix)


def make_liquidation_ingest(settings: Settings, store: BandStore, **feed_options: Any):
    """The liquidation ingest for `settings` (exchange, symbols, score window, heartbeat).
    Raises `LiquidationFeedError` when there is no live stream to ingest (replay mode, an
    unsupported exchange, turned off). `feed_options` (`rest_origin`, `urls_override`,
    `backoff`) reach the websocket client and the feed (tests point them at local servers)."""
    from execsvc.maps.liquidations import LiquidationIngest, no_source_reason
    from execsvc.market.liquidation_feed import (
        LiquidationFeed,
        LiquidationFeedError,
        build_ws_exchange,
    )

    reason = no_source_reason(settings)
    if reason is not None:
        raise LiquidationFeedError(reason)
    client_options = {k: feed_options.pop(k) for k in ("rest_origin", "urls_override")
                      if k in feed_options}

    def make_feed(resume_from_ms: int | None) -> LiquidationFeed:
        exchange = build_ws_exchange(settings.exchange, timeout_ms=settings.ccxt_timeout_ms,
                                     **client_options)
        return LiquidationFeed(settings.exchange, settings.symbols, exchange=exchange,
                               heartbeat_s=settings.liquidation_heartbeat_s,
                               resume_from_ms=resume_from_ms, **feed_options)

    return LiquidationIngest(
        make_feed, make_liquidation_store(settings, store), store, exchange=settings.exchange,
        score_window=settings.score_window, max_map_age_s=settings.max_map_age_s,
        lease_s=max(15.0, 3 * settings.liquidation_heartbeat_s))


def make_worker(settings: Settings, store: BandStore,
                registry: CollectorRegistry | None = None,
                source: MarketSource | Mapping[str, MarketSource] | None = None):
    """The map worker over `source` (one source, or venue id -> source), by default every
    configured venue's (`make_market_sources`)."""
    from execsvc.maps.worker import MapWorker

    return MapWorker(source or make_market_sources(settings, store), store, settings,
                     registry=registry)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def worker_off_the_loop(settings: Settings, store: BandStore, registry: CollectorRegistry,
                        source: MarketSource | None = None):
    """The worker of `execsvc serve`: in a process of its own on the same store
    (`maps.worker_process`), after building it here once so a configuration fault stops
    start-up; on the API's loop only with the in-process store, which no other process can
    reach, or with a `source` object (which cannot move to another process). The worker's
    metrics are on this process's `registry` only when it runs here."""
    here = is_embedded(store.redis) or source is not None
    worker = make_worker(settings, store, registry if here else None, source)
    if here:
        return worker
    from execsvc.maps.worker_process import WorkerProcess
    from execsvc.store.connection import server_url

    return WorkerProcess(run_worker_process, settings, server_url(store.redis),
                         store.ttl_ms / 1000, store.prefix)


def run_worker_process(settings: Settings, redis_url: str, ttl_s: float, prefix: str,
                       parent_pid: int) -> None:
    """The worker process of `execsvc serve` (`maps.worker_process`): the configured worker
    on the API's store, with its log level, until told to stop."""
    import asyncio

    from pydantic import SecretStr

    from execsvc.maps.worker_process import run_until_told
    from execsvc.store.connection import connect

    configure_logging(settings)
    own = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    worker = make_worker(own, BandStore(connect(own), ttl_s=ttl_s, prefix=prefix))
    asyncio.run(run_until_told(worker, parent_pid))


def live_router(settings: Settings, api_key=None, secret=None, **options: Any):
    """A `LiveRouter` for `settings` (exchange, timeout, base URL) on the exchange account of
    `api_key`/`secret` (default: EXCHANGE_API_KEY/SECRET). Raises `LiveRoutingError` unless
    `trading_mode` is live, and `MissingExchangeKeysError` without keys; `options` (e.g.
    `base_url`) are passed to the constructor."""
    from execsvc.venues.errors import LiveRoutingError
    from execsvc.venues.live_router import LiveRouter

    if settings.trading_mode != "live":
        raise LiveRoutingError("live order routing needs EXECSVC_TRADING_MODE=live, "
                               f"not {settings.trading_mode!r}")
    options.setdefault("base_url", settings.exchange_base_url)
    return LiveRouter(api_key=api_key or settings.exchange_api_key,
                      secret=secret or settings.exchange_secret,
                      exchange_id=settings.exchange, timeout_ms=settings.ccxt_timeout_ms,
                      **options)


def live_routers(settings: Settings, **options: Any) -> dict:
    """One `LiveRouter` per API key id: each key's own exchange account (LIVE_ACCOUNTS), or
    the one account of EXCHANGE_API_KEY/SECRET for the one API key the settings allow then."""
    from execsvc.api.auth import key_id

    if settings.live_accounts:
        return {key_id(a.api_key.get_secret_value()): live_router(
                    settings, a.exchange_api_key, a.exchange_secret, **options)
                for a in settings.live_accounts}
    router = live_router(settings, **options)
    return {key_id(k.get_secret_value()): router for k in settings.service_keys} or {
        "": router}


def make_venue(settings: Settings, store: BandStore, cache, **router_options: Any):
    """Paper accounts over the stored books, or the exchange (live mode needs exchange keys
    and fails here, at start-up, without them)."""
    if settings.trading_mode == "live":
        from execsvc.venues.live import LiveVenue

        return LiveVenue(live_routers(settings, **router_options), store.redis, store.prefix,
                         timeout_s=settings.live_request_timeout_s)
    from execsvc.venues.paper.accounts import PaperAccounts
    from execsvc.venues.paper.engine import Fees
    from execsvc.venues.paper.venue import PaperVenue

    accounts = PaperAccounts(
        store.redis, cache.latest_book,
        fees=Fees(taker_bps=settings.paper_taker_fee_bps,
                  maker_bps=settings.paper_maker_fee_bps),
        latency_ms=settings.paper_latency_ms,
        starting_balance_quote=settings.paper_starting_balance_quote, prefix=store.prefix,
        last_price_source=cache.last_price, stale_after_s=settings.max_map_age_s,
        order_history=settings.paper_order_history,
        snapshot_every=settings.paper_snapshot_every,
    )
    return PaperVenue(accounts, settings.symbols, settings.refresh_interval_s)


def load_policy(settings: Settings) -> Policy:
    """The enforced risk policy; `PolicyError` when none is valid: nothing starts without one."""
    return load_policies_dir(settings.policies_dir, settings.policy_file,
                             windows=settings.windows)


def make_context(settings: Settings, store: BandStore, *, registry: CollectorRegistry,
                 policy: Policy | None = None):
    from execsvc.api.deps import ApiContext
    from execsvc.domain.map_document import AGGREGATE_EXCHANGE
    from execsvc.maps.cache import AdviceCache, SymbolVenues
    from execsvc.market.sources import configured_venues

    venues = configured_venues(settings)
    cache = AdviceCache(store, SymbolVenues(
        venues[0], tuple(venues), AGGREGATE_EXCHANGE if len(venues) > 1 else venues[0]))
    return ApiContext(
        settings=settings, store=store, registry=registry, cache=cache,
        liquidations=make_liquidation_store(settings, store),
        policy=policy if policy is not None else load_policy(settings),
        risk_gate=RiskGate(store.redis, prefix=store.prefix),
        venue=make_venue(settings, store, cache),
    )


def make_app(settings: Settings, *, with_worker: bool, store: BandStore | None = None,
             policy: Policy | None = None,
             source: MarketSource | Mapping[str, MarketSource] | None = None,
             worker=None, ingest=None, hot_routes: bool = True) -> FastAPI:
    """The HTTP app (with the refresh worker in its event loop when `with_worker`: `worker`,
    or one over `source`, or over the configured source; and beside it the liquidation
    ingest, `ingest` or the configured one, when a live stream is configured)."""
    from execsvc.api.app import create_app
    from execsvc.maps.liquidations import no_source_reason

    registry = CollectorRegistry()
    store = store or make_store(settings)
    ctx = make_context(settings, store, registry=registry, policy=policy)
    if with_worker and worker is None:
        worker = worker_off_the_loop(settings, store, registry, source)
    if with_worker and ingest is None and settings.source == "ccxt":
        reason = no_source_reason(settings)
        if reason is None:
            ingest = make_liquidation_ingest(settings, store)
        else:
            log.warning("no liquidation ingest: %s", reason)
    return create_app(ctx, worker=worker if with_worker else None,
                      ingest=ingest if with_worker else None, hot_routes=hot_routes)


START_UP_SETTINGS: tuple[tuple[str, str], ...] = (
    ("PolicyError", "EXECSVC_POLICIES_DIR / EXECSVC_POLICY_FILE"),
    ("MissingExchangeKeysError", "EXECSVC_EXCHANGE_API_KEY / EXECSVC_EXCHANGE_SECRET"),
    ("LiveRoutingError", "EXECSVC_EXCHANGE / EXECSVC_TRADING_MODE"),
    ("MarketSourceError", "EXECSVC_SYMBOLS / EXECSVC_SOURCE / EXECSVC_EXCHANGE"),
    ("LiquidationFeedError", "EXECSVC_SOURCE / EXECSVC_EXCHANGE / EXECSVC_LIQUIDATIONS"),
)


def start_up_problem(exc: BaseException) -> str | None:
    """One line naming what failed at start-up and the settings that fix it, for the errors
    a configuration can cause; None for anything else (a bug: let it show its traceback)."""
    from execsvc.market.liquidation_feed import LiquidationFeedError
    from execsvc.market.types import MarketSourceError
    from execsvc.risk.policy import PolicyError
    from execsvc.venues.errors import LiveRoutingError, MissingExchangeKeysError

    kinds = {"PolicyError": PolicyError, "MissingExchangeKeysError": MissingExchangeKeysError,
             "LiveRoutingError": LiveRoutingError, "MarketSourceError": MarketSourceError,
             "LiquidationFeedError": LiquidationFeedError}
    for name, setting in START_UP_SETTINGS:
        if isinstance(exc, kinds[name]):
            return f"refusing to start: {exc} (check {setting})"
    return None


def log_startup(settings: Settings, role: str, store: BandStore,
                policy: Policy | None = None) -> None:
    """One line each: what this process runs, with which store, source, symbols, windows,
    policy and trading mode (a store that keeps nothing across restarts is a warning)."""
    log.info("execsvc %s starting", role)
    lost = is_embedded(store.redis)
    (log.warning if lost else log.info)("store: %s", describe_store(store.redis))
    if role != "api":
        log.info("source: %s", describe_source(settings))
    if role in ("serve", "liquidations"):
        log.info("realised liquidations: %s", describe_liquidations(settings))
    log.info("symbols: %s", ", ".join(settings.symbols))
    log.info("windows: %s (refresh every %g s, stale after %g s)", ", ".join(settings.windows),
             settings.refresh_interval_s, settings.max_map_age_s)
    if policy is not None:
        log.info("policy: %s from %s", policy.label,
                 Path(settings.policies_dir) / settings.policy_file)
    if role != "worker":
        log.info("trading mode: %s%s", settings.trading_mode, _order_endpoints(settings))


def describe_liquidations(settings: Settings) -> str:
    from execsvc.maps.liquidations import no_source_reason

    reason = no_source_reason(settings)
    if reason is not None:
        return f"none ({reason})"
    return (f"ccxt {settings.exchange} websocket, scored against the {settings.score_window} "
            f"maps, kept {settings.liquidation_retention_h:g} h")


def describe_source(settings: Settings) -> str:
    """The market data in one line, with the venues mapped (summed under `all` where a symbol
    has several)."""
    from execsvc.market.sources import configured_venues

    venues = ", ".join(configured_venues(settings))
    if settings.source == "ccxt":
        keys = "with keys" if settings.exchange_api_key else "without keys"
        return f"ccxt {venues} ({settings.ccxt_timeframe} candles, {keys})"
    return f"replay of the bundled recordings of {venues} at {settings.replay_speed:g}x"


def _order_endpoints(settings: Settings) -> str:
    count = len(settings.service_keys)
    if count == 0:
        return " (order endpoints disabled: no EXECSVC_API_KEYS)"
    return f" ({count} API key{'s' if count > 1 else ''} for the order endpoints)"
