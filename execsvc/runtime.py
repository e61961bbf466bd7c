"""Composition root: settings -> market source, store, order venue, worker, app.

Every object built from settings is built here (no adapter reads `Settings` itself), and each
start-up states in one log line per part what it runs: store, source, symbols, windows,
policy and trading mode (`log_startup`).
"""

from __future__ import annotations

import logging
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


def make_store(settings: Settings) -> BandStore:
    return BandStore(connect(settings), ttl_s=settings.map_ttl_s)


def make_worker(settings: Settings, store: BandStore,
                registry: CollectorRegistry | None = None, source: MarketSource | None = None):
    from execsvc.maps.worker import MapWorker

    return MapWorker(source or make_source(settings), store, settings, registry=registry)


def live_router(settings: Settings, **options: Any):
    """A `LiveRouter` for `settings` (exchange, keys, timeout). Raises `LiveRoutingError`
    unless `trading_mode` is live, and `MissingExchangeKeysError` without keys; `options`
    (e.g. `base_url`) are passed to the constructor."""
    from execsvc.venues.errors import LiveRoutingError
    from execsvc.venues.live_router import LiveRouter

    if settings.trading_mode != "live":
        raise LiveRoutingError("live order routing needs EXECSVC_TRADING_MODE=live, "
                               f"not {settings.trading_mode!r}")
    return LiveRouter(api_key=settings.exchange_api_key, secret=settings.exchange_secret,
                      exchange_id=settings.exchange, timeout_ms=settings.ccxt_timeout_ms,
                      **options)


def make_venue(settings: Settings, store: BandStore, cache):
    """Paper accounts over the stored books, or the exchange (live mode needs exchange keys
    and fails here, at start-up, without them)."""
    if settings.trading_mode == "live":
        from execsvc.venues.live import LiveVenue

        return LiveVenue(live_router(settings), store.redis, store.prefix)
    from execsvc.venues.paper.accounts import PaperAccounts
    from execsvc.venues.paper.engine import Fees
    from execsvc.venues.paper.venue import PaperVenue

    accounts = PaperAccounts(
        store.redis, cache.latest_book,
        fees=Fees(taker_bps=settings.paper_taker_fee_bps,
                  maker_bps=settings.paper_maker_fee_bps),
        latency_ms=settings.paper_latency_ms,
        starting_balance_quote=settings.paper_starting_balance_quote, prefix=store.prefix,
    )
    return PaperVenue(accounts, settings.symbols, settings.refresh_interval_s)


def load_policy(settings: Settings) -> Policy:
    """The enforced risk policy; `PolicyError` when none is valid: nothing starts without one."""
    return load_policies_dir(settings.policies_dir, settings.policy_file,
                             windows=settings.windows)


def make_context(settings: Settings, store: BandStore, *, registry: CollectorRegistry,
                 policy: Policy | None = None):
    from execsvc.api.deps import ApiContext
    from execsvc.maps.cache import AdviceCache

    cache = AdviceCache(store, settings.exchange)
    return ApiContext(
        settings=settings, store=store, registry=registry, cache=cache,
        policy=policy if policy is not None else load_policy(settings),
        risk_gate=RiskGate(store.redis, prefix=store.prefix),
        venue=make_venue(settings, store, cache),
    )


def make_app(settings: Settings, *, with_worker: bool, store: BandStore | None = None,
             policy: Policy | None = None, source: MarketSource | None = None,
             worker=None) -> FastAPI:
    """The HTTP app (with the refresh worker in its event loop when `with_worker`: `worker`,
    or one over `source`, or over the configured source)."""
    from execsvc.api.app import create_app

    registry = CollectorRegistry()
    store = store or make_store(settings)
    ctx = make_context(settings, store, registry=registry, policy=policy)
    if with_worker and worker is None:
        worker = make_worker(settings, store, registry, source)
    return create_app(ctx, worker=worker if with_worker else None)


START_UP_SETTINGS: tuple[tuple[str, str], ...] = (
    ("PolicyError", "EXECSVC_POLICIES_DIR / EXECSVC_POLICY_FILE"),
    ("MissingExchangeKeysError", "EXECSVC_EXCHANGE_API_KEY / EXECSVC_EXCHANGE_SECRET"),
    ("LiveRoutingError", "EXECSVC_EXCHANGE / EXECSVC_TRADING_MODE"),
    ("MarketSourceError", "EXECSVC_SYMBOLS / EXECSVC_SOURCE / EXECSVC_EXCHANGE"),
)


def start_up_problem(exc: BaseException) -> str | None:
    """One line naming what failed at start-up and the settings that fix it, for the errors
    a configuration can cause; None for anything else (a bug: let it show its traceback)."""
    from execsvc.market.types import MarketSourceError
    from execsvc.risk.policy import PolicyError
    from execsvc.venues.errors import LiveRoutingError, MissingExchangeKeysError

    kinds = {"PolicyError": PolicyError, "MissingExchangeKeysError": MissingExchangeKeysError,
             "LiveRoutingError": LiveRoutingError, "MarketSourceError": MarketSourceError}
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
    log.info("symbols: %s", ", ".join(settings.symbols))
    log.info("windows: %s (refresh every %g s, stale after %g s)", ", ".join(settings.windows),
             settings.refresh_interval_s, settings.max_map_age_s)
    if policy is not None:
        log.info("policy: %s from %s", policy.label,
                 Path(settings.policies_dir) / settings.policy_file)
    if role != "worker":
        log.info("trading mode: %s%s", settings.trading_mode, _order_endpoints(settings))


def describe_source(settings: Settings) -> str:
    if settings.source == "ccxt":
        keys = "with keys" if settings.exchange_api_key else "without keys"
        return f"ccxt {settings.exchange} ({settings.ccxt_timeframe} candles, {keys})"
    return f"replay of the bundled recordings at {settings.replay_speed:g}x"


def _order_endpoints(settings: Settings) -> str:
    count = len(settings.api_keys)
    if count == 0:
        return " (order endpoints disabled: no EXECSVC_API_KEYS)"
    return f" ({count} API key{'s' if count > 1 else ''} for the order endpoints)"
