"""The book a paper order trades against: the latest stored book minus the depth this account's
own taker fills already took from that same book version. Pure numpy, no I/O.

Levels are (n, 2) arrays of (price in quote per base, size in base units), best first, as in
`execsvc.domain.book.OrderBook`. A new book version resets
the overlay (the exchange's next snapshot already reflects, or has refilled, what was taken).
"""

from __future__ import annotations

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.venues.paper.state import DUST_REL, Overlay


def effective_side(book: OrderBook, side: str, overlay: Overlay | None) -> np.ndarray:
    """The levels a `side` order takes from (asks for a buy, bids for a sell), each reduced by
    what `overlay` says was consumed at that price from this book version; levels left with
    less than `DUST_REL` of their size are dropped."""
    levels = book.side_for(side)
    if overlay is None or overlay.version != book.version or len(levels) == 0:
        return levels
    consumed = overlay.asks if side == "buy" else overlay.bids
    if not consumed:
        return levels
    prices = np.fromiter(consumed.keys(), dtype=np.float64, count=len(consumed))
    taken = np.fromiter(consumed.values(), dtype=np.float64, count=len(consumed))
    keys = levels[:, 0] if side == "buy" else -levels[:, 0]
    wanted = prices if side == "buy" else -prices
    index = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    hit = keys[index] == wanted
    sizes = levels[:, 1].copy()
    np.subtract.at(sizes, index[hit], taken[hit])
    keep = sizes > DUST_REL * levels[:, 1]
    return np.column_stack([levels[keep, 0], sizes[keep]])
