"""RFC 9457 problem details (`application/problem+json`) for every error the API returns.

Validation errors name each offending field in `errors[].field` (dotted path, e.g.
`query.window`), so clients can react without parsing prose.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from execsvc.api.responses import FastJSONResponse
from execsvc.exchange.errors import LiveRoutingError
from execsvc.store import StoreUnavailable

log = logging.getLogger("execsvc.api")
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, type_: str = "about:blank", **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.extra = extra


def field_problem(field: str, message: str, detail: str | None = None) -> Problem:
    """A 422 naming one offending field (`body.quantity`, `query.window`, ...)."""
    return Problem(422, detail or message, errors=[{"field": field, "message": message}])


def body_problem(field: str, message: str) -> Problem:
    """`field_problem` for a field of the request body."""
    return field_problem(f"body.{field}", message)


def problem_response(
    status: int, detail: str, *, type_: str = "about:blank", **extra: Any
) -> FastJSONResponse:
    body = {"type": type_, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    body.update(extra)
    return FastJSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


async def _validation(_: Request, exc: RequestValidationError) -> FastJSONResponse:
    errors = [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors)
    return problem_response(422, f"invalid request: {fields}", errors=errors)


async def _http(_: Request, exc: StarletteHTTPException) -> FastJSONResponse:
    return problem_response(exc.status_code, str(exc.detail))


async def _problem(_: Request, exc: Problem) -> FastJSONResponse:
    return problem_response(exc.status, exc.detail, type_=exc.type, **exc.extra)


async def _store(_: Request, exc: StoreUnavailable) -> FastJSONResponse:
    return problem_response(503, str(exc), reason="store_unavailable")


async def _redis(_: Request, exc: RedisError) -> FastJSONResponse:
    return problem_response(503, f"redis error: {exc}", reason="store_unavailable")


async def _exchange(_: Request, exc: Exception) -> FastJSONResponse:
    unknown = type(exc).__name__ == "OrderStateUnknownError"
    return problem_response(
        504 if unknown else 502, str(exc),
        reason="order_state_unknown" if unknown else "exchange_error",
    )


async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal error; the incident was logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(StoreUnavailable, _store)
    app.add_exception_handler(RedisError, _redis)
    app.add_exception_handler(LiveRoutingError, _exchange)
    app.add_exception_handler(Exception, _unexpected)
