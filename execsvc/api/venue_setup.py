"""Builds the order venue for the app: paper accounts over the stored books, or the exchange."""

from __future__ import annotations

import asyncio
from typing import Any

from execsvc.api.advice_cache import AdviceCache
from execsvc.api.context import ApiContext
from execsvc.api.routes_risk import brackets_for
from execsvc.orders.venues import LiveVenue, OrderVenue, PaperVenue
from execsvc.settings import Settings
from execsvc.store import BandStore


def paper_book_source(ctx: ApiContext, cache: AdviceCache):
    """`(bids, asks, version)` of the latest book the worker stored for a symbol, or None."""

    async def source(symbol: str) -> tuple[Any, Any, int] | None:
        book = await cache.book_view(await ctx.exchange_of(symbol, None), symbol)
        return None if book is None else (book.bids, book.asks, book.version)

    return source


def make_venue(settings: Settings, store: BandStore, ctx: ApiContext,
               cache: AdviceCache) -> OrderVenue:
    """Live needs exchange keys and fails here, at start-up, without them."""
    if settings.trading_mode == "live":
        from execsvc.exchange import LiveRouter

        return LiveVenue(LiveRouter.from_settings(settings), store.redis, store.prefix)
    from execsvc.paper import Fees, PaperAccounts

    accounts = PaperAccounts(
        store.redis, paper_book_source(ctx, cache),
        fees=Fees(taker_bps=settings.paper_taker_fee_bps,
                  maker_bps=settings.paper_maker_fee_bps),
        latency_ms=settings.paper_latency_ms, brackets_for=brackets_for,
        starting_balance_quote=settings.paper_starting_balance_quote, prefix=store.prefix,
    )
    return PaperVenue(accounts)


async def run_venue(venue: OrderVenue, settings: Settings, stop: asyncio.Event) -> None:
    """Paper mode: feed price ticks to the paper accounts (resting limits, stops,
    liquidations) every refresh interval until `stop`."""
    if isinstance(venue, PaperVenue):
        await venue.accounts.run_market_loop(settings.symbols, settings.refresh_interval_s, stop)


async def close_venue(venue: OrderVenue) -> None:
    if isinstance(venue, LiveVenue):
        await venue.router.close()
