"""Composition root: settings -> market source, band store, worker, app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from execsvc.market.types import MarketSource
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.connection import connect
from execsvc.worker import MapWorker


def make_source(settings: Settings, data_dir: Path | None = None) -> MarketSource:
    """The configured market source; `data_dir` selects a user's CSV files instead."""
    if data_dir is not None:
        from execsvc.market.csv_source import CsvSource

        return CsvSource(data_dir, symbol=settings.symbols[0])
    if settings.source == "ccxt":
        from execsvc.market.ccxt_source import CcxtSource
        from execsvc.market.incremental import IncrementalHistory

        return IncrementalHistory(CcxtSource.from_settings(settings))
    from execsvc.market.replay import ReplaySource

    return ReplaySource(speed=settings.replay_speed, symbols=settings.symbols)


def make_store(settings: Settings) -> BandStore:
    return BandStore(connect(settings), ttl_s=settings.map_ttl_s)


def make_worker(
    settings: Settings, store: BandStore, registry: CollectorRegistry | None = None
) -> MapWorker:
    return MapWorker(make_source(settings), store, settings, registry=registry)


def make_app(settings: Settings, *, with_worker: bool) -> FastAPI:
    from execsvc.api.app import create_app

    registry = CollectorRegistry()
    store = make_store(settings)
    worker = make_worker(settings, store, registry) if with_worker else None
    return create_app(settings, store, worker=worker, registry=registry)
