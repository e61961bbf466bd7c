"""RFC 9457 problem details (`application/problem+json`) for every error the API returns.

Validation errors name each offending field in `errors[].field` (dotted path, e.g.
`query.window`), so clients can react without parsing prose. `ProblemDoc` is the schema the
OpenAPI document gives every error response; `problems(404, 503)` declares a route's errors.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from execsvc.api.responses import FastJSONResponse
from execsvc.domain.orders import DuplicateOrder
from execsvc.risk.gate import RateLimited
from execsvc.store import StoreUnavailable
from execsvc.store.errors import store_unavailable
from execsvc.venues.errors import LiveRoutingError, OrderStateUnknownError
from execsvc.venues.paper.service import PaperUnavailable

log = logging.getLogger("execsvc.api")
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="dotted location: body.quantity, query.window, path.symbol")
    message: str
    type: str | None = None


class ProblemDoc(BaseModel):
    """An RFC 9457 problem document; `reason` (or `code`) is the machine-readable cause."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field("about:blank", description="URI naming the kind of problem")
    title: str = Field(description="HTTP status phrase")
    status: int
    detail: str
    reason: str | None = Field(None, examples=["map_stale"])
    field: str | None = Field(None, description="the offending field, for 404s")
    errors: list[FieldError] | None = Field(None, description="422: one per offending field")


ERROR_DESCRIPTIONS = {
    400: "The body could not be parsed as JSON",
    401: "Missing or invalid X-API-Key (order endpoints)",
    404: "Unknown symbol, exchange or order",
    409: "client_order_id already used for a different request (code DUPLICATE_ORDER)",
    413: "The request body is larger than EXECSVC_MAX_BODY_BYTES (refused before it is read)",
    429: "Too many orders from this API key in 60 s (code RATE_LIMITED); `Retry-After` says "
         "when the next fits",
    422: "Invalid request: `errors[].field` names each offending field",
    502: "The exchange refused or failed the operation (live mode)",
    503: "Map missing or stale, store unreachable, no order book yet, a paper account too "
         "busy to take the change, or no liquidation source or ingest (`reason` says which)",
    504: "The exchange did not say whether it holds the order (reason order_state_unknown)",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring `statuses` as `application/problem+json` problems (422 is
    declared for every route)."""
    return {
        status: {"model": ProblemDoc, "description": ERROR_DESCRIPTIONS[status]}
        for status in sorted({*statuses, 422})
    }


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
    status: int, detail: str, *, type_: str = "about:blank",
    headers: dict[str, str] | None = None, **extra: Any,
) -> FastJSONResponse:
    body = {"type": type_, "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    body.update(extra)
    return FastJSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


async def _validation(_: Request, exc: RequestValidationError) -> FastJSONResponse:
    errors = [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors)
    return problem_response(422, f"invalid request: {fields}", errors=errors)


async def _http(request: Request, exc: StarletteHTTPException) -> FastJSONResponse:
    """Starlette's own errors: 404 for an unknown path, 400 for a body that is not JSON, 405
    with `Allow` listing the methods of every route on the path (Starlette names only the
    first route's)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request, headers.get("Allow", "")))
    return problem_response(exc.status_code, str(exc.detail), headers=headers or None)


def allowed_methods(request: Request, named: str) -> list[str]:
    """The methods of every documented route whose path template matches the request's path,
    with those Starlette `named`."""
    methods = {m.strip() for m in named.split(",") if m.strip()}
    for template, operations in request.app.openapi()["paths"].items():
        if _template(template).fullmatch(request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


@functools.cache
def _template(path: str) -> re.Pattern[str]:
    """`/orders/{order_id}` as a regex matching one path segment per parameter."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def problem_of(exc: Problem) -> FastJSONResponse:
    """The answer to a raised `Problem` (the app's handler, and the hot-path dispatch's)."""
    return problem_response(exc.status, exc.detail, type_=exc.type, **exc.extra)


def store_problem(exc: StoreUnavailable | RedisError) -> FastJSONResponse:
    """503 `store_unavailable` naming what failed (the app's handlers, and the hot path's)."""
    unavailable = exc if isinstance(exc, StoreUnavailable) else store_unavailable(exc)
    return problem_response(503, str(unavailable), reason="store_unavailable")


def unexpected_problem(method: str, path: str) -> FastJSONResponse:
    """500, the error logged with its traceback (call it in the `except` that caught it)."""
    log.exception("unhandled error on %s %s", method, path)
    return problem_response(500, "internal error; the incident was logged")


async def _problem(_: Request, exc: Problem) -> FastJSONResponse:
    return problem_of(exc)


async def _store(_: Request, exc: StoreUnavailable | RedisError) -> FastJSONResponse:
    return store_problem(exc)


async def _duplicate(_: Request, exc: DuplicateOrder) -> FastJSONResponse:
    return problem_response(409, str(exc), code="DUPLICATE_ORDER", order_id=exc.order_id)


async def _rate_limited(_: Request, exc: RateLimited) -> FastJSONResponse:
    wait_s = max(1, math.ceil(exc.retry_after_s))
    return problem_response(429, str(exc), code="RATE_LIMITED", limit=exc.limit,
                            retry_after_s=wait_s, headers={"Retry-After": str(wait_s)})


async def _exchange(_: Request, exc: LiveRoutingError) -> FastJSONResponse:
    return problem_response(502, str(exc), reason="exchange_error")


async def _paper_busy(_: Request, exc: PaperUnavailable) -> FastJSONResponse:
    return problem_response(503, str(exc), reason="paper_account_busy")


async def _order_state_unknown(_: Request, exc: OrderStateUnknownError) -> FastJSONResponse:
    return problem_response(504, str(exc), reason="order_state_unknown")


async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
    return unexpected_problem(request.method, request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(StoreUnavailable, _store)
    app.add_exception_handler(RedisError, _store)
    app.add_exception_handler(DuplicateOrder, _duplicate)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(LiveRoutingError, _exchange)
    app.add_exception_handler(OrderStateUnknownError, _order_state_unknown)
    app.add_exception_handler(PaperUnavailable, _paper_busy)
    app.add_exception_handler(Exception, _unexpected)
