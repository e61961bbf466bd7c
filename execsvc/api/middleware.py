"""Pure ASGI middleware around the app: what happens before any route, dependency or body read.

- `RefuseLargeBodies`: a request announcing a body over `EXECSVC_MAX_BODY_BYTES` is answered
  413 (problem+json, `Connection: close`) before the app runs, so before the body is read and
  before authentication. A body without a length (chunked) is counted as it is read and
  refused the same way once it passes the limit, so at most the limit is ever held.
- `RejectDuplicateKeys`: a JSON body with a key twice in one object (`{"side": "buy",
  "side": "sell"}`) is a 422 naming the key; JSON parsers silently keep the last value, so the
  request would be read differently by different parsers on its way.
- `HeadAsGet`: `HEAD` on a `GET` route answers the route's status and headers without a
  body (FastAPI routes declare GET only; RFC 9110 expects HEAD wherever GET is served).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execsvc.api.problems import problem_response


class BodyTooLarge(HTTPException):
    """A body passed the limit while being read. A FastAPI `HTTPException`, so a route reading
    the body re-raises it to the app's handler (any other error there becomes a 400)."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_body_bytes} bytes "
                              "(EXECSVC_MAX_BODY_BYTES)", headers={"Connection": "close"})


class RefuseLargeBodies:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            refusal = BodyTooLarge(self.max_body_bytes) if length.isdigit() else HTTPException(
                400, "invalid Content-Length", headers={"Connection": "close"})
            await _answer(refusal, scope, receive, send)
            return
        received = 0
        started = False

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_within_limit, send_noting_start)
        except BodyTooLarge as exc:  # read by a middleware, outside the app's handlers
            if started:
                raise
            await _answer(exc, scope, receive, send)


async def _answer(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(exc.status_code, str(exc.detail), headers=exc.headers)
    await response(scope, receive, send)


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
    """The keys that appear twice in one object of the JSON document `body` (none when it is
    not JSON: the app reports that)."""
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKeys as exc:
        return exc.keys
    except ValueError:
        pass
    return []


class RejectDuplicateKeys:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = Headers(scope=scope).get("content-type", "") if (
            scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH")) else ""
        if "json" not in content_type:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        repeated = duplicate_keys(body)
        if repeated:
            errors = [{"field": f"body.{key}", "type": "duplicate_key",
                       "message": "the key appears more than once in one object"}
                      for key in dict.fromkeys(repeated)]
            response = problem_response(422, "duplicate JSON key(s): " + ", ".join(
                dict.fromkeys(repeated)), errors=errors)
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class _BodyDiscarded(BaseException):
    """Raised into the app once a HEAD answer's head is sent: the body is not wanted. A
    BaseException, so no error handler of the app mistakes it for a failure."""


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

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
