"""A burst of paper orders through `PaperBroker` against a Redis server, for the crash test.

    python tests/support/paper_burst.py REDIS_URL ACCOUNT FIRST COUNT

Submits orders with client ids `burst-FIRST` .. `burst-(FIRST+COUNT-1)` (market orders both
ways, resting GTC limits, crossing IOC limits) on the recorded BTCUSDT books, a new book
version every 25 orders. Prints `READY <journal version>` once started, then one line per
acknowledged order, flushed as soon as the journal commit returned:

    ACK <client id> <order id> <status> <fill id>,<fill id>,...   ("-" without fills)
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from execsvc.domain.book import OrderBook
from execsvc.domain.orders import OrderRequest
from execsvc.market.replay_books import recorded_order_book, snapshot_count
from execsvc.venues.paper.engine import Fees
from execsvc.venues.paper.journal import PaperJournal
from execsvc.venues.paper.service import PaperBroker

BOOK_EVERY = 25


def burst_request(index: int) -> OrderRequest:
    """The deterministic order number `index` of the burst."""
    cid = f"burst-{index}"
    side = "buy" if index % 2 == 0 else "sell"
    if index % 7 == 3:
        price = 50_000.0 if side == "buy" else 80_000.0  # far from the book: rests
        return OrderRequest(cid, "BTCUSDT", side, "limit", 0.2, price=price)
    if index % 11 == 5:
        price = 80_000.0 if side == "buy" else 50_000.0  # crosses: fills now, rest expires
        return OrderRequest(cid, "BTCUSDT", side, "limit", 0.7, price=price,
                            time_in_force="IOC")
    return OrderRequest(cid, "BTCUSDT", side, "market", 0.5 + (index % 5) * 0.1)


async def main(url: str, account: str, first: int, count: int) -> None:
    redis = Redis.from_url(url, socket_timeout=5.0)
    current = {"index": first}

    async def books(symbol: str) -> OrderBook:
        version = current["index"] // BOOK_EVERY
        book = recorded_order_book(version % snapshot_count())
        return OrderBook.of(book.bids, book.asks, version=version + 1)

    broker = PaperBroker(PaperJournal(redis, account), books, fees=Fees(5.0, 2.0),
                         starting_balance_quote=1e9)
    await broker.start()
    print(f"READY {broker.state.version}", flush=True)
    for index in range(first, first + count):
        current["index"] = index
        order = await broker.submit("burst", burst_request(index))
        fills = ",".join(f.id for f in order.fills) or "-"
        print(f"ACK {order.request.client_order_id} {order.id} {order.status} {fills}",
              flush=True)
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
