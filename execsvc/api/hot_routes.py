"""`HotRoutes`: the two routes bots call many times a second, `GET /map/{symbol}` and
`POST /suggest/stop`, answered without FastAPI's router and dependency solving.

A pure ASGI middleware inside `RequestFilter` and `HttpMetrics` (so body limits, duplicate
keys, HEAD and the request metrics apply as to every route). Matching the route among ~30
others and solving its parameters and dependencies cost more than the answer itself (a profile
of `/map` at 16 clients: 14 % of the server's time in route matching, 27 % in dependency and
parameter solving, 13 % in the route's own work).

A request is taken here only when it is plainly valid, and then answered by the same function
as the FastAPI route (`routes.maps.map_answer`, `routes.suggest.stop_answer`), with the same
declared types validating its parameters (`api.schemas`); anything else goes on to FastAPI
unchanged, which answers it as before (its 422 naming the field, unknown query parameters,
`leverage=`, another content type):

- `GET /map/<symbol>` with the symbol exactly as configured (`EXECSVC_SYMBOLS`; another
  spelling goes on; no other route's path takes these: `tests/api/test_hot_routes.py`
  compares every answer with FastAPI's), query parameters among `window` and `exchange`,
  each at most once, each valid;
- `POST /suggest/stop` without a query string, `Content-Type: application/json`, and a body
  `StopRequest` accepts.

An error the answer raises is answered here by the functions the app's exception handlers
use (`api.problems`): a `Problem` (unknown exchange, map missing or stale, entry outside the
map) as itself, a store fault as a 503 naming it, anything else as a logged 500; the request
is never run twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execsvc.api.deps import ApiContext
from execsvc.api.problems import Problem, problem_of, store_problem, unexpected_problem
from execsvc.api.routes import maps, suggest
from execsvc.api.schemas import ExchangeQuery, StopRequest, SymbolPath, WindowQuery
from execsvc.store import StoreUnavailable

MAP_QUERY = ("window", "exchange")
"""The query parameters of `GET /map/{symbol}` taken here (`leverage=` goes on to FastAPI)."""
JSON = "application/json"


def route_of(routes: list[Any], endpoint: Callable[..., Any]) -> APIRoute:
    """The route of `endpoint` among `routes` (what `HttpMetrics` labels the request with)."""
    return next(r for r in routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


def _default(endpoint: Callable[..., Any], name: str) -> Any:
    """The default of a query parameter, as the route declares it."""
    return inspect.signature(endpoint).parameters[name].default


def _valid(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


class HotRoutes:
    def __init__(self, app: ASGIApp, ctx: ApiContext, map_route: APIRoute,
                 stop_route: APIRoute) -> None:
        self.app = app
        self.ctx = ctx
        self.map_route = map_route
        self.stop_route = stop_route
        symbol = TypeAdapter(SymbolPath)
        self.map_paths = {f"/map/{s}": s for s in ctx.settings.symbols if _valid(symbol, s)}
        self.map_defaults = {name: _default(maps.get_map, name) for name in MAP_QUERY}
        self.map_checks: dict[str, TypeAdapter[Any]] = {
            "window": TypeAdapter(WindowQuery), "exchange": TypeAdapter(ExchangeQuery)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "GET":
                symbol = self.map_paths.get(scope["path"])
                if symbol is not None:
                    await self._map(symbol, scope, receive, send)
                    return
            elif method == "POST" and scope["path"] == "/suggest/stop":
                await self._stop(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _map_query(self, scope: Scope) -> dict[str, Any] | None:
        """`window` and `exchange` (defaults filled in), or None when the query string is not
        plainly valid."""
        found = dict(self.map_defaults)
        if not scope["query_string"]:
            return found
        seen = set()
        for name, value in QueryParams(scope["query_string"]).multi_items():
            check = self.map_checks.get(name)
            if check is None or name in seen or not _valid(check, value):
                return None
            seen.add(name)
            found[name] = value
        return found

    async def _map(self, symbol: str, scope: Scope, receive: Receive, send: Send) -> None:
        query = self._map_query(scope)
        if query is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scope["route"] = self.map_route
        try:
            response = await maps.map_answer(
                self.ctx, symbol, query["window"], query["exchange"],
                headers.get("if-none-match"), headers.get("accept-encoding"))
        except Exception as exc:  # answered as the app's exception handlers answer it
            response = _answer_to(exc, scope)
        await response(scope, receive, send)

    async def _stop(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        replay = _replay(message, receive)
        body = message.get("body", b"")
        if (message.get("more_body", False) or scope["query_string"]
                or Headers(scope=scope).get("content-type") != JSON):
            await self.app(scope, replay, send)
            return
        try:
            request = StopRequest.model_validate_json(body)
        except ValidationError:
            await self.app(scope, replay, send)
            return
        scope["route"] = self.stop_route
        response: Response
        try:
            response = await suggest.stop_answer(self.ctx, request)
        except Exception as exc:  # answered as the app's exception handlers answer it
            response = _answer_to(exc, scope)
        await response(scope, receive, send)


def _answer_to(exc: Exception, scope: Scope) -> Response:
    """What the app's exception handlers answer to `exc` (`api.problems.install`): a raised
    `Problem`, a store fault (503), anything else a logged 500."""
    if isinstance(exc, Problem):
        return problem_of(exc)
    if isinstance(exc, StoreUnavailable | RedisError):
        return store_problem(exc)
    return unexpected_problem(scope["method"], scope["path"])


def _replay(first: Message, receive: Receive) -> Receive:
    """`receive` that gives the request's `first` message (already read) once, then the
    connection's messages: a body `RequestFilter` buffered arrives whole in one."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()

    return replay
