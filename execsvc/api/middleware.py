"""`RequestFilter`: the pure ASGI middleware around the app, what happens before any route,
dependency or body read. Requests without a body (GET, DELETE, ...) pass straight through.

- Body size: a request announcing a body over `EXECSVC_MAX_BODY_BYTES` is answered 413
  (problem+json, `Connection: close`) before the app runs, so before the body is read and
  before authentication; a body without a length (chunked) is read up to the limit and refused
  the same way once it passes it, so at most the limit is ever held.
- Nesting: a JSON body nested deeper than `MAX_JSON_DEPTH` arrays and objects is a 422 naming
  `body` (no request body of this API goes past a few levels; a parser's recursion reaches
  its limit near a thousand, and that answered 500).
- Duplicate keys: a JSON body with a key twice in one object (`{"side": "buy", "side":
  "sell"}`) is a 422 naming the key; JSON parsers silently keep the last value, so the request
  would be read differently by different parsers on its way.
- HEAD on a `GET` route answers the route's status and headers without a body (FastAPI routes
  declare GET only; RFC 9110 expects HEAD wherever GET is served), and stops the route once
  its head is sent (an event stream does not run on).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execsvc.api.problems import problem_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


class _DuplicateKeys(ValueError):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


def _refuse_duplicates(pairs: Iterable[tuple[str, object]]) -> None:
    seen: set[str] = set()
    repeated = [key for key, _ in pairs if key in seen or seen.add(key)]  # type: ignore[func-returns-value]
    if repeated:
        raise _DuplicateKeys(repeated)


def duplicate_keys(body: bytes) -> list[str]:
    """The keys that appear twice in one object of the JSON document `body`, each once (none
    when it is not JSON: the app reports that)."""
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKeys as exc:
        return list(dict.fromkeys(exc.keys))
    except ValueError:
        pass
    return []


def nests_deeper_than(body: bytes, limit: int) -> bool:
    """True when the arrays and objects of JSON text `body` nest more than `limit` deep,
    brackets inside strings aside (text with `limit` brackets or fewer is not scanned)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b'""', body)):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


class _BodyDiscarded(BaseException):
    """Raised into the app once a HEAD answer's head is sent: the body is not wanted. A
    BaseException, so no error handler of the app mistakes it for a failure."""


class RequestFilter:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.too_large = (f"the request body is larger than {max_body_bytes} bytes "
                          "(EXECSVC_MAX_BODY_BYTES)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] in BODY_METHODS:
            await self._with_body(scope, receive, send)
        elif scope["method"] == "HEAD":
            await self._head(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int,
                      detail: str, **extra: object) -> None:
        headers = {"Connection": "close"} if status in (400, 413) else None
        await problem_response(status, detail, headers=headers, **extra)(scope, receive, send)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        length, content_type = None, b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            if length.isdigit():
                await self._refuse(scope, receive, send, 413, self.too_large)
            else:
                await self._refuse(scope, receive, send, 400, "invalid Content-Length")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(scope, receive, send, 413, self.too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"json" in content_type and nests_deeper_than(body, MAX_JSON_DEPTH):
            await self._refuse(
                scope, receive, send, 422,
                f"the JSON body nests deeper than {MAX_JSON_DEPTH} arrays and objects",
                errors=[{"field": "body", "type": "json_too_deep",
                         "message": f"nested deeper than {MAX_JSON_DEPTH} levels"}])
            return
        repeated = duplicate_keys(body) if b"json" in content_type else []
        if repeated:
            await self._refuse(
                scope, receive, send, 422, "duplicate JSON key(s): " + ", ".join(repeated),
                errors=[{"field": f"body.{key}", "type": "duplicate_key",
                         "message": "the key appears more than once in one object"}
                        for key in repeated])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_head_only(message: Message) -> None:
            if message["type"] != "http.response.start":
                return
            await send(message)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            raise _BodyDiscarded  # the head is all a HEAD answer has: the route may stop

        with contextlib.suppress(_BodyDiscarded):
            try:
                await self.app({**scope, "method": "GET"}, receive, send_head_only)
            except BaseExceptionGroup as group:
                # streaming responses run in task groups: the signal comes back wrapped
                _, rest = group.split(_BodyDiscarded)
                if rest is not None:
                    raise rest from None
