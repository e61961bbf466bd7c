"""The book a paper order trades against: the latest stored book minus the depth this account's
own taker fills already took from that same book version. Pure numpy, no I/O.

Levels are (n, 2) arrays of (price in quote per base, size in base units), best first: bids
descending, asks ascending, as in `execsvc.market.types.OrderBook`. A new book version resets
the overlay (the exchange's next snapshot already reflects, or has refilled, what was taken).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from execsvc.execution.book_walk import BookWalk, walk_book
from execsvc.paper.state import DUST_REL, Overlay


@dataclass(frozen=True, slots=True)
class Book:
    """One version of a symbol's L2 book. `version` grows whenever the stored book changes."""

    bids: np.ndarray
    asks: np.ndarray
    version: int

    @classmethod
    def of(cls, bids: object, asks: object, version: int) -> Book:
        """Arrays (or nested lists, as stored in JSON) as float64 (n, 2), n may be 0."""
        return cls(
            np.asarray(bids, dtype=np.float64).reshape(-1, 2),
            np.asarray(asks, dtype=np.float64).reshape(-1, 2),
            int(version),
        )

    @property
    def mid(self) -> float | None:
        if len(self.bids) == 0 or len(self.asks) == 0:
            return None
        return float((self.bids[0, 0] + self.asks[0, 0]) / 2.0)


def effective_side(book: Book, side: str, overlay: Overlay | None) -> np.ndarray:
    """The levels a `side` order takes from (asks for a buy, bids for a sell), each reduced by
    what `overlay` says was consumed at that price from this book version; levels left with
    less than `DUST_REL` of their size are dropped."""
    levels = book.asks if side == "buy" else book.bids
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


def within_limit(levels: np.ndarray, side: str, limit_price: float | None) -> np.ndarray:
    """The prefix of `levels` a limit order may trade at: asks <= limit for a buy, bids >= limit
    for a sell (all of them when `limit_price` is None)."""
    if limit_price is None or len(levels) == 0:
        return levels
    if side == "buy":
        return levels[: int(np.searchsorted(levels[:, 0], limit_price, side="right"))]
    return levels[: int(np.searchsorted(-levels[:, 0], -limit_price, side="right"))]


def take(levels: np.ndarray, quantity: float, side: str) -> tuple[BookWalk, list[list[float]]]:
    """Walk `levels` for `quantity` (base) with `walk_book` and split the fill per level:
    `[[price, base taken], ...]`, summing to the walk's filled quantity (up to float error)."""
    walk = walk_book(levels, quantity, side)
    touched = levels[: walk.levels_consumed]
    before = np.concatenate([[0.0], np.cumsum(touched[:, 1])[:-1]])
    portions = np.minimum(touched[:, 1], np.maximum(walk.filled_quantity - before, 0.0))
    per_level = [[float(p), float(q)] for p, q in zip(touched[:, 0], portions, strict=True)
                 if q > 0.0]
    return walk, per_level
