"""A local websocket server speaking two venues' public liquidation streams, for tests.

`LiquidationStreams` serves, on one free 127.0.0.1 port from a background thread
(`BackgroundServer`, like `binance_stub.BinanceStub`), what ccxt's websocket clients expect:

- **Binance USD-M** `forceOrder`: ccxt (`binanceusdm`) connects to `<ws base>/market/ws/<n>`
  (the configured `.../ws` URL with its `market` category) and sends
  `{"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder"], "id": 1}`; the server answers
  `{"result": null, "id": 1}` and pushes `{"e": "forceOrder", "E": .., "o": {..}}` events.
  Point `urls['api']['ws']['linear']` at `binance_ws_url`.
- **Bybit v5** `allLiquidation`: ccxt (`bybit`) connects to `/v5/public/linear`, sends
  `{"op": "subscribe", "req_id": .., "args": ["allLiquidation.BTCUSDT"]}` (and `op: ping`); the
  server acknowledges like Bybit and pushes `{"topic": "allLiquidation.BTCUSDT", "type":
  "snapshot", "ts": .., "data": [{"T", "s", "S", "v", "p"}]}`. Bybit's REST
  `GET /v5/market/instruments-info` (which ccxt's `load_markets` calls) is served from the
  recorded payload in `fixtures/bybit_v5/`. Point the REST origin at `http_url` and
  `urls['api']['ws']['public']['linear']` at `bybit_ws_url`.

Delivery: a frame published to a topic goes to every connection subscribed to it; while no
connection is subscribed, frames wait and go, in order, to the next subscriber (so a test can
publish across a disconnect and check that nothing is lost between the server and the store).
Faults: `drop_connections` (abrupt, no close frame), `publish_raw` (malformed frames), and a
frame can simply be published twice (a duplicate). `subscriptions` records every subscribe
request as received.

Times are epoch milliseconds; prices quote per base unit; quantities base units.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSMsgType, web

from tests.support.background_server import BackgroundServer

Venue = Literal["binance", "bybit"]

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "bybit_v5"


def binance_force_order(
    symbol: str, order_side: str, price: float, quantity: float, time_ms: int
) -> dict[str, Any]:
    """A Binance USD-M `forceOrder` event. `order_side` is the liquidation order's side:
    `SELL` closes a long position, `BUY` a short one."""
    return {
        "e": "forceOrder", "E": time_ms + 2,
        "o": {
            "s": symbol, "S": order_side, "o": "LIMIT", "f": "IOC", "q": f"{quantity}",
            "p": f"{price * (0.99 if order_side == 'SELL' else 1.01):.2f}", "ap": f"{price}",
            "X": "FILLED", "l": f"{quantity}", "z": f"{quantity}", "T": time_ms,
        },
    }


def bybit_all_liquidation(
    symbol: str, entries: list[tuple[int, str, float, float]], ts_ms: int | None = None
) -> dict[str, Any]:
    """A Bybit v5 `allLiquidation.<symbol>` push; `entries` are `(time_ms, position_side,
    size_base, price)` with `position_side` `Buy` for a liquidated long, `Sell` for a short."""
    data = [{"T": t, "s": symbol, "S": side, "v": f"{size}", "p": f"{price}"}
            for t, side, size, price in entries]
    return {"topic": f"allLiquidation.{symbol}", "type": "snapshot",
            "ts": ts_ms if ts_ms is not None else max(t for t, *_ in entries) + 5, "data": data}


def topic_of(venue: Venue, symbol: str) -> str:
    """The stream name a venue uses for a symbol's liquidations."""
    return f"{symbol.lower()}@forceOrder" if venue == "binance" else f"allLiquidation.{symbol}"


@dataclass
class _Connection:
    venue: Venue
    ws: web.WebSocketResponse
    topics: set[str] = field(default_factory=set)


class LiquidationStreams(BackgroundServer):
    """The server; use as a context manager, or `start()` / `stop()`."""

    thread_name = "liquidation-streams"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._pending: dict[tuple[Venue, str], list[str]] = {}
        self._subscriptions: list[tuple[Venue, list[str]]] = []
        self._connects: dict[Venue, int] = {"binance": 0, "bybit": 0}
        self.instruments = json.loads((FIXTURES_DIR / "instruments_linear.json").read_text())

    # ---- addresses ------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def binance_ws_url(self) -> str:
        """The value for ccxt binanceusdm `urls['api']['ws']['linear']`."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def bybit_ws_url(self) -> str:
        """The value for ccxt bybit `urls['api']['ws']['public']['linear']`."""
        return f"ws://127.0.0.1:{self.port}/v5/public/linear"

    # ---- what tests see and do ------------------------------------------------------------

    @property
    def subscriptions(self) -> list[tuple[Venue, list[str]]]:
        """Every subscribe request received, oldest first: `(venue, topics)`."""
        with self._lock:
            return list(self._subscriptions)

    def connects(self, venue: Venue) -> int:
        """Websocket connections accepted so far for `venue`."""
        with self._lock:
            return self._connects[venue]

    def subscribed(self, venue: Venue, symbol: str) -> bool:
        """Whether a live connection is subscribed to the symbol's liquidations."""
        topic = topic_of(venue, symbol)
        with self._lock:
            return any(c.venue == venue and topic in c.topics for c in self._connections)

    def publish(self, venue: Venue, symbol: str, frame: dict[str, Any]) -> None:
        """Push `frame` (JSON) to the symbol's subscribers, or hold it for the next one."""
        self.publish_raw(venue, symbol, json.dumps(frame))

    def publish_raw(self, venue: Venue, symbol: str, text: str) -> None:
        """Push a text frame as is (malformed JSON included)."""
        self.run(self._publish(venue, topic_of(venue, symbol), text))

    def drop_connections(self, venue: Venue) -> int:
        """Abort every connection of `venue` (TCP reset, no close frame); returns how many."""
        return self.run(self._drop(venue))

    # ---- server side ----------------------------------------------------------------------

    async def _publish(self, venue: Venue, topic: str, text: str) -> None:
        with self._lock:
            targets = [c for c in self._connections if c.venue == venue and topic in c.topics]
            if not targets:
                self._pending.setdefault((venue, topic), []).append(text)
        for connection in targets:
            await connection.ws.send_str(text)

    async def _drop(self, venue: Venue) -> int:
        with self._lock:
            doomed = [c for c in self._connections if c.venue == venue]
            self._connections = [c for c in self._connections if c.venue != venue]
        for connection in doomed:
            transport = connection.ws._req.transport if connection.ws._req else None
            if transport is not None:
                transport.abort()
        return len(doomed)

    async def _subscribe(self, connection: _Connection, topics: list[str]) -> None:
        with self._lock:
            self._subscriptions.append((connection.venue, list(topics)))
            connection.topics.update(topics)
            held = [text for topic in topics
                    for text in self._pending.pop((connection.venue, topic), [])]
        for text in held:
            await connection.ws.send_str(text)

    async def _binance_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "binance", self._binance_message)

    async def _bybit_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, "bybit", self._bybit_message)

    async def _serve(self, request: web.Request, venue: Venue, on_message) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = _Connection(venue, ws)
        with self._lock:
            self._connections.append(connection)
            self._connects[venue] += 1
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await on_message(connection, json.loads(message.data))
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
        return ws

    async def _binance_message(self, connection: _Connection, message: dict[str, Any]) -> None:
        if message.get("method") == "SUBSCRIBE":
            await connection.ws.send_str(json.dumps({"result": None, "id": message.get("id")}))
            await self._subscribe(connection, list(message.get("params") or []))

    async def _bybit_message(self, connection: _Connection, message: dict[str, Any]) -> None:
        op, req_id = message.get("op"), str(message.get("req_id", ""))
        ack = {"success": True, "ret_msg": "", "conn_id": f"local-{id(connection)}",
               "req_id": req_id, "op": op}
        if op == "ping":
            await connection.ws.send_str(json.dumps({**ack, "ret_msg": "pong"}))
        elif op == "subscribe":
            await connection.ws.send_str(json.dumps(ack))
            await self._subscribe(connection, list(message.get("args") or []))

    async def _instruments(self, request: web.Request) -> web.Response:
        if request.query.get("category") != "linear":
            body = {"retCode": 10001, "retMsg": "category only supports linear here",
                    "result": {}, "retExtInfo": {}, "time": 0}
            return web.json_response(body)
        return web.json_response(self.instruments)

    # ---- lifecycle --------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/market/ws/{stream}", self._binance_ws)
        app.router.add_get("/v5/public/linear", self._bybit_ws)
        app.router.add_get("/v5/market/instruments-info", self._instruments)
        return app

    async def _shutdown(self) -> None:
        await self._drop("binance")
        await self._drop("bybit")
        await super()._shutdown()
