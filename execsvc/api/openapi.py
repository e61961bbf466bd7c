"""The OpenAPI document: FastAPI's, with every error response as `application/problem+json`
(schema `Problem`) and the event schema of `/stream/maps` (`MapEvent`) in the components."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from execsvc.api.problems import PROBLEM_JSON
from execsvc.api.routes.stream import MapEvent

REF_TEMPLATE = "#/components/schemas/{model}"


def _problem_media_types(schema: dict[str, Any]) -> None:
    """Error responses are `application/problem+json`, whatever the route's success type."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45" and response.get("content"):
                    media = next(iter(response["content"].values()))
                    response["content"] = {PROBLEM_JSON: media}


def _add_map_event(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    event = TypeAdapter(MapEvent).json_schema(ref_template=REF_TEMPLATE)
    components.update(event.pop("$defs", {}))
    components["MapEvent"] = event
    stream = schema["paths"]["/stream/maps"]["get"]["responses"]["200"]["content"]
    stream["text/event-stream"]["x-event-data"] = {"$ref": REF_TEMPLATE.format(model="MapEvent")}


def _rename_problem(schema: dict[str, Any]) -> dict[str, Any]:
    """The problem schema is `Problem` in the document (`ProblemDoc` in the code, where
    `Problem` is the exception routes raise)."""
    components = schema.get("components", {}).get("schemas", {})
    if "ProblemDoc" in components:
        components["Problem"] = components.pop("ProblemDoc")
    text = orjson.dumps(schema).replace(b"#/components/schemas/ProblemDoc",
                                        b"#/components/schemas/Problem")
    return orjson.loads(text)


def _drop_unused(schema: dict[str, Any]) -> None:
    text = str(schema["paths"])
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if f"/{name}'" not in text and name in components:
            del components[name]


def install(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 routes=app.routes)
            _problem_media_types(schema)
            _add_map_event(schema)
            _drop_unused(schema)
            app.openapi_schema = _rename_problem(schema)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
