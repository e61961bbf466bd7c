"""The paper account's state: what folding the journal's events yields. Pure data, no I/O.

Units: quantities in base units, prices in quote per base, money in quote currency (`_quote`),
times in epoch milliseconds.

Orders and positions are immutable and the event fold only ever *replaces* them, so `fork()`
can share them: the fork copies the small containers and layers the three that grow with the
history (`orders`, `client_ids`, `closed`) over the originals with a `ChainMap`, so forking costs
O(open orders + symbols + overlay levels), not O(history). Overlays are the one thing the fold
updates in place (a fill adds to the depth taken at a price), so `fork()` copies them.

Memory stays bounded: `closed` lists closed orders in the order they closed, and
`trim_history(limit)` forgets all but the `limit` most recent of them (`evicted` counts the
forgotten; the journal's derived `orders` and `cid` hashes in Redis still hold them). Trimming
keeps the most recent closed orders whenever it runs, and a closed order never changes again,
so trimming at any point of a fold gives the same state as trimming at its end.
`state_to_json` / `state_from_json` are the snapshot format of journal compaction.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from execsvc.domain.orders import Order, Position, order_from_json, order_to_json

# Sizes and remaining quantities within this fraction of the quantity they came from are zero:
# float sums of fills (0.1 + 0.2 - 0.3) leave residues of ~1e-17 relative, far below any lot.
DUST_REL = 1e-9


@dataclass(frozen=True, slots=True)
class Overlay:
    """Depth this account's taker fills have taken from one version of a symbol's book:
    price -> base quantity consumed, per side. A new book version replaces it (reset)."""

    version: int
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)

    def copy(self) -> Overlay:
        return Overlay(self.version, dict(self.bids), dict(self.asks))


@dataclass(slots=True)
class PaperState:
    """A paper account folded from its journal.

    `balance_quote` is the wallet: deposits + realised PnL - fees (liquidation clearance fees
    included in `fees_paid_quote`). `version` counts the events applied; `last_id` is the
    journal stream id of the last one ("0-0" before any). `open_orders` keeps the ids of
    working orders in arrival order (time priority); `reserved` the initial margin (quote)
    each working order holds back for the part of it that would open exposure.
    """

    account_id: str = "paper"
    opened: bool = False
    balance_quote: float = 0.0
    deposits_quote: float = 0.0
    fees_paid_quote: float = 0.0
    realized_pnl_quote: float = 0.0
    version: int = 0
    last_id: str = "0-0"
    order_seq: int = 0
    orders: MutableMapping[str, Order] = field(default_factory=dict)
    client_ids: MutableMapping[str, str] = field(default_factory=dict)
    open_orders: dict[str, None] = field(default_factory=dict)
    reserved: dict[str, float] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    books: dict[str, Overlay] = field(default_factory=dict)
    closed: MutableMapping[str, None] = field(default_factory=dict)
    evicted: int = 0

    @property
    def position_margin_quote(self) -> float:
        """Isolated initial margin held by the open positions (quote)."""
        return sum(p.margin_quote for p in self.positions.values())

    @property
    def order_margin_quote(self) -> float:
        """Initial margin reserved by working orders (quote)."""
        return sum(self.reserved.values())

    @property
    def available_quote(self) -> float:
        """Balance not committed to positions or working orders (quote)."""
        return self.balance_quote - self.position_margin_quote - self.order_margin_quote

    def fork(self) -> PaperState:
        """A copy that events can be applied to without touching this state."""
        return PaperState(
            account_id=self.account_id,
            opened=self.opened,
            balance_quote=self.balance_quote,
            deposits_quote=self.deposits_quote,
            fees_paid_quote=self.fees_paid_quote,
            realized_pnl_quote=self.realized_pnl_quote,
            version=self.version,
            last_id=self.last_id,
            order_seq=self.order_seq,
            orders=ChainMap({}, self.orders),
            client_ids=ChainMap({}, self.client_ids),
            open_orders=dict(self.open_orders),
            reserved=dict(self.reserved),
            positions=dict(self.positions),
            books={symbol: o.copy() for symbol, o in self.books.items()},
            closed=ChainMap({}, self.closed),
            evicted=self.evicted,
        )

    def absorb(self, fork: PaperState) -> None:
        """Take over the changes made to `fork` (a `fork()` of this state), in place."""
        for name in ("orders", "client_ids", "closed"):
            layered = getattr(fork, name)
            own = getattr(self, name)
            if not (isinstance(layered, ChainMap) and layered.maps[-1] is own):
                raise ValueError("absorb() takes a fork of this very state")
            getattr(self, name).update(layered.maps[0])
        for name in ("opened", "balance_quote", "deposits_quote", "fees_paid_quote",
                     "realized_pnl_quote", "version", "last_id", "order_seq", "open_orders",
                     "reserved", "positions", "books", "evicted"):
            setattr(self, name, getattr(fork, name))

    def trim_history(self, limit: int) -> int:
        """Forget all but the `limit` most recently closed orders (and their client ids);
        returns how many were forgotten. Only on a state that is not being forked."""
        if any(isinstance(m, ChainMap) for m in (self.orders, self.client_ids, self.closed)):
            raise ValueError("trim_history() takes a state, not a fork")
        forgotten = 0
        while len(self.closed) > limit:
            order_id = next(iter(self.closed))
            del self.closed[order_id]
            order = self.orders.pop(order_id, None)
            if order is not None:
                self.client_ids.pop(order.request.client_order_id, None)
            forgotten += 1
        self.evicted += forgotten
        return forgotten

    def restore(self, other: PaperState) -> None:
        """Become `other` (a snapshot loaded while this state was behind it), in place."""
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(other, name))


def state_to_json(state: PaperState) -> dict[str, Any]:
    """The state as a JSON-ready document (the snapshot of journal compaction)."""
    return {
        "account_id": state.account_id, "opened": state.opened,
        "balance_quote": state.balance_quote, "deposits_quote": state.deposits_quote,
        "fees_paid_quote": state.fees_paid_quote,
        "realized_pnl_quote": state.realized_pnl_quote, "version": state.version,
        "last_id": state.last_id, "order_seq": state.order_seq, "evicted": state.evicted,
        "orders": [order_to_json(order) for order in state.orders.values()],
        "client_ids": dict(state.client_ids), "open_orders": list(state.open_orders),
        "reserved": dict(state.reserved),
        "positions": [asdict(position) for position in state.positions.values()],
        "books": [[symbol, o.version, list(o.bids.items()), list(o.asks.items())]
                  for symbol, o in state.books.items()],
        "closed": list(state.closed),
    }


def state_from_json(data: dict[str, Any]) -> PaperState:
    orders = [order_from_json(o) for o in data["orders"]]
    return PaperState(
        account_id=data["account_id"], opened=data["opened"],
        balance_quote=data["balance_quote"], deposits_quote=data["deposits_quote"],
        fees_paid_quote=data["fees_paid_quote"],
        realized_pnl_quote=data["realized_pnl_quote"], version=data["version"],
        last_id=data["last_id"], order_seq=data["order_seq"], evicted=data["evicted"],
        orders={order.id: order for order in orders}, client_ids=dict(data["client_ids"]),
        open_orders=dict.fromkeys(data["open_orders"]), reserved=dict(data["reserved"]),
        positions={p["symbol"]: Position(**p) for p in data["positions"]},
        books={symbol: Overlay(version, {float(k): v for k, v in bids},
                               {float(k): v for k, v in asks})
               for symbol, version, bids, asks in data["books"]},
        closed=dict.fromkeys(data["closed"]),
    )
