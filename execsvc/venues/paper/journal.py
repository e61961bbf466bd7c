"""`PaperJournal`: a paper account's event journal in Redis, and the state derived from it.

Keys (prefix `execsvc`, account `{a}`):
- `paper:{a}:journal`: stream, one entry per event, field `e` = the event as JSON: the
  account. Compaction (`compact`) trims it behind a snapshot.
- `paper:{a}:snapshot`: hash `version`, `last_id` and `state` (`state_to_json`): the account
  folded up to the journal entry `last_id`, whose entries (and all before) are trimmed.
- `paper:{a}:cid`: hash client_order_id -> order id (idempotency).
- `paper:{a}:orders`: hash order id -> order JSON (derived; for readers that do not fold).
- `paper:{a}:positions`: hash symbol -> position JSON (derived; flat positions deleted).
- `paper:{a}:meta`: hash `version` (events ever journaled: the account's version), `last_id`,
  `account` (balance etc. as JSON).

`commit` is one Lua script: it checks the account still has the version the caller's state was
folded from (optimistic concurrency between writers), appends the events and writes every
derived key, all or nothing. With AOF the script's effects are logged as one MULTI/EXEC, and
with `appendfsync always` they are on disk before the reply, so an acknowledged order survives
both a killed service and a killed Redis.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from redis.asyncio import Redis

from execsvc.domain.orders import Order, order_from_json
from execsvc.store.band_store import BandStore
from execsvc.venues.paper.ledger import Event, apply
from execsvc.venues.paper.state import PaperState, state_from_json, state_to_json

COMMIT_SCRIPT = """
local length = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
if length ~= tonumber(ARGV[1]) then return {0, length} end
local n_events, n_cids, n_orders, n_positions =
    tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 7
local reply = {1}
for _ = 1, n_events do
    reply[#reply + 1] = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i])
    i = i + 1
end
for _ = 1, n_cids do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, n_orders do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, n_positions do
    if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[5], ARGV[i])
    else redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1]) end
    i = i + 2
end
redis.call('HSET', KEYS[2], 'version', length + n_events, 'last_id', reply[#reply],
           'account', ARGV[6])
return reply
"""

# One page of the journal as two bulk strings (space-separated ids, newline-separated event
# documents: orjson escapes newlines inside strings), instead of five RESP elements per entry:
# parsing the reply, not Redis, is what a rebuild of a long journal spends its time on.
READ_SCRIPT = """
local through = redis.call('HGET', KEYS[2], 'last_id')
if through and ARGV[3] ~= '' then
    local ms, seq = string.match(ARGV[3], '(%d+)-(%d+)')
    local tms, tseq = string.match(through, '(%d+)-(%d+)')
    ms, seq, tms, tseq = tonumber(ms), tonumber(seq), tonumber(tms), tonumber(tseq)
    if ms < tms or (ms == tms and seq < tseq) then return {'gap', ''} end
end
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
local ids, docs = {}, {}
for i, entry in ipairs(entries) do
    ids[i] = entry[1]
    docs[i] = entry[2][2]
end
return {table.concat(ids, ' '), table.concat(docs, '\\n')}
"""


# Store the snapshot and trim the entries it folded, unless a newer snapshot exists.
SNAPSHOT_SCRIPT = """
local current = tonumber(redis.call('HGET', KEYS[2], 'version') or '-1')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'version', ARGV[1], 'last_id', ARGV[2], 'state', ARGV[3])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[4])
return 1
"""


class JournalConflict(RuntimeError):
    """The journal holds events the committing state was not folded from (another writer got
    there first); catch up and decide again."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"journal has {actual} events, the state was folded from {expected}")
        self.expected = expected
        self.actual = actual


def account_summary(state: PaperState) -> dict[str, Any]:
    return {
        "balance_quote": state.balance_quote, "deposits_quote": state.deposits_quote,
        "fees_paid_quote": state.fees_paid_quote,
        "realized_pnl_quote": state.realized_pnl_quote, "version": state.version,
        "order_seq": state.order_seq,
    }


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _next_id(stream_id: str) -> str:
    """The exclusive XRANGE start after `stream_id`."""
    return f"({stream_id}"


def _id_after(stream_id: str) -> str:
    """The smallest stream id greater than `stream_id` (XTRIM MINID keeps ids from it on)."""
    ms, seq = stream_id.split("-")
    return f"{ms}-{int(seq) + 1}"


class JournalGap(RuntimeError):
    """The entries after the state's last id were trimmed behind a snapshot: load it."""


class PaperJournal:
    def __init__(self, redis: Redis, account_id: str, *, prefix: str = "execsvc",
                 page_size: int = 5_000) -> None:
        self.redis = redis
        self.account_id = account_id
        self.page_size = page_size
        base = f"{prefix}:paper:{account_id}"
        self.stream = f"{base}:journal"
        self.meta_key = f"{base}:meta"
        self.cid_key = f"{base}:cid"
        self.orders_key = f"{base}:orders"
        self.positions_key = f"{base}:positions"
        self.snapshot_key = f"{base}:snapshot"
        self._commit = redis.register_script(COMMIT_SCRIPT)
        self._read = redis.register_script(READ_SCRIPT)
        self._snapshot = redis.register_script(SNAPSHOT_SCRIPT)

    async def commit(self, events: list[Event], *, expected_version: int,
                     after: PaperState) -> list[str]:
        """Append `events` (folded from a state of `expected_version` events into `after`) and
        write the derived keys from `after`, atomically. Returns the events' stream ids.

        Raises JournalConflict when the journal no longer has `expected_version` events, and
        `StoreUnavailable` when Redis fails (the commit may or may not have happened: catch
        up before trusting local state).
        """
        if not events:
            return []
        cids: list[bytes | str] = []
        order_ids: dict[str, None] = {}
        symbols: dict[str, None] = {}
        for event in events:
            if "order_id" in event:
                order_ids[event["order_id"]] = None
            if event["type"] in ("order_accepted", "order_rejected"):
                cids += [event["request"]["client_order_id"], event["order_id"]]
            if event["type"] in ("fill", "position_liquidated"):
                symbols[event["symbol"]] = None
        orders: list[bytes | str] = []
        for order_id in order_ids:
            orders += [order_id, orjson.dumps(after.orders[order_id])]
        positions: list[bytes | str] = []
        for symbol in symbols:
            position = after.positions.get(symbol)
            positions += [symbol, b"" if position is None else orjson.dumps(position)]
        args = [expected_version, len(events), len(cids) // 2, len(orders) // 2,
                len(positions) // 2, orjson.dumps(account_summary(after)),
                *(orjson.dumps(e) for e in events), *cids, *orders, *positions]
        keys = [self.stream, self.meta_key, self.cid_key, self.orders_key, self.positions_key]
        reply = await BandStore._call(self._commit(keys=keys, args=args))
        if int(reply[0]) != 1:
            raise JournalConflict(expected_version, int(reply[1]))
        return [r.decode() if isinstance(r, bytes) else str(r) for r in reply[1:]]

    async def _raw_pages(self, after_id: str) -> AsyncIterator[tuple[list[bytes], list[bytes]]]:
        """(stream ids, event JSON documents) after `after_id`, one page per script call;
        `JournalGap` when entries after `after_id` were trimmed behind a snapshot."""
        start = _next_id(after_id)
        check = after_id
        while True:
            ids, docs = await BandStore._call(
                self._read(keys=[self.stream, self.snapshot_key],
                           args=[start, self.page_size, check]))
            if ids == b"gap":
                raise JournalGap(f"{self.stream} was trimmed after {after_id}")
            check = ""
            if not ids:
                return
            page_ids = ids.split(b" ")
            yield page_ids, docs.split(b"\n")
            if len(page_ids) < self.page_size:
                return
            start = _next_id(page_ids[-1].decode())

    async def pages(self, after_id: str = "0-0") -> AsyncIterator[list[tuple[str, Event]]]:
        """The journal after `after_id` (exclusive), `page_size` entries per page."""
        async for ids, docs in self._raw_pages(after_id):
            yield [(sid.decode(), orjson.loads(doc)) for sid, doc in zip(ids, docs, strict=True)]

    async def events_since(self, last_id: str = "0-0") -> list[tuple[str, Event]]:
        """Every (stream id, event) after `last_id`, oldest first."""
        return [entry async for page in self.pages(last_id) for entry in page]

    async def catch_up(self, state: PaperState) -> int:
        """Fold into `state` (in place) the events after `state.last_id`; returns how many.
        A state behind the snapshot (another writer compacted) first becomes the snapshot.

        The cyclic garbage collector is paused while a page is decoded and folded: the fold
        allocates many long-lived, acyclic objects, on which collections only cost time
        (about half of a rebuild's)."""
        count = 0
        try:
            count += await self._fold_pages(state)
        except JournalGap:
            snapshot = await self.load_snapshot()
            if snapshot is None:
                raise
            count += snapshot.version - state.version
            state.restore(snapshot)
            count += await self._fold_pages(state)
        return count

    async def _fold_pages(self, state: PaperState) -> int:
        count = 0
        async for ids, docs in self._raw_pages(state.last_id):
            with _gc_paused():
                for sid, doc in zip(ids, docs, strict=True):
                    apply(state, orjson.loads(doc))
                    state.last_id = sid.decode()
            count += len(ids)
        return count

    async def rebuild(self, account_id: str | None = None) -> PaperState:
        """The account: its snapshot (if compacted) plus the events after it."""
        state = await self.load_snapshot() or PaperState(account_id=account_id or
                                                         self.account_id)
        await self.catch_up(state)
        return state

    async def load_snapshot(self) -> PaperState | None:
        raw = await BandStore._call(self.redis.hget(self.snapshot_key, "state"))
        return None if raw is None else state_from_json(orjson.loads(raw))

    async def compact(self, state: PaperState) -> bool:
        """Store `state` (folded from this journal, up to `state.last_id`) as the snapshot and
        trim the journal entries it folded; False when a newer snapshot exists already."""
        if state.last_id == "0-0":
            return False
        done = await BandStore._call(self._snapshot(
            keys=[self.stream, self.snapshot_key],
            args=[state.version, state.last_id, orjson.dumps(state_to_json(state)),
                  _id_after(state.last_id)]))
        return bool(done)

    async def length(self) -> int:
        """Entries in the stream (fewer than the version once compacted)."""
        return int(await BandStore._call(self.redis.xlen(self.stream)))

    async def stored_order(self, order_id: str) -> Order | None:
        """An order from the derived `orders` hash (also those the state has forgotten)."""
        raw = await BandStore._call(self.redis.hget(self.orders_key, order_id))
        return None if raw is None else order_from_json(orjson.loads(raw))

    async def order_id_for(self, client_order_id: str) -> str | None:
        raw = await BandStore._call(self.redis.hget(self.cid_key, client_order_id))
        return None if raw is None else raw.decode()

    async def stored_orders(self) -> dict[str, dict[str, Any]]:
        """The derived order documents (order id -> JSON-decoded order)."""
        raw = await BandStore._call(self.redis.hgetall(self.orders_key))
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    async def stored_positions(self) -> dict[str, dict[str, Any]]:
        raw = await BandStore._call(self.redis.hgetall(self.positions_key))
        return {k.decode(): orjson.loads(v) for k, v in raw.items()}

    async def stored_meta(self) -> dict[str, Any]:
        raw = await BandStore._call(self.redis.hgetall(self.meta_key))
        meta: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        if "account" in meta:
            meta["account"] = orjson.loads(meta["account"])
        return meta
