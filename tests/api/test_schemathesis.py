"""The OpenAPI document against the app's real answers (schemathesis): for whatever it
generates, within the schema or just outside it, the service never answers 5xx, and every
answer conforms to the document: a declared status, the declared media type (problem+json for
errors) and a body valid against the declared schema.

Generated symbols are mapped onto the configured ones (one case in four keeps its random
symbol, for the 404 path) and most cases carry a valid API key, so the checks reach the
success answers (maps, advice, risk checks, orders), not only 401 and 404. `/stream/maps`
never ends, so it is checked in `test_stream.py` instead. The app replays recorded data, which
has no liquidation stream: the liquidation routes answer 503 `no_liquidation_source` by design
here (declared), and their live answers are checked against the same models in
`test_liquidations.py`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import zlib
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
)

from execsvc.api import routes
from execsvc.api.schemas import SYMBOL_PATTERN
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.connection import connect

KEY = "schema-key-0123456789"
SYMBOL = re.compile(SYMBOL_PATTERN)
CONFIG = Settings(_env_file=None, windows="1d,7d", refresh_interval_s=60, api_keys=KEY,
                  paper_starting_balance_quote=1e12)
STORE = BandStore(connect(CONFIG))
APP = make_app(CONFIG, with_worker=True, store=STORE,
               worker=MapWorker(ReplaySource(720), STORE, CONFIG))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path="/stream/maps")


def _configured(value: Any) -> Any:
    """A configured symbol for three valid generated symbols in four (chosen by the string);
    invalid ones (the negative cases) stay as generated."""
    if not isinstance(value, str) or not SYMBOL.fullmatch(value):
        return value
    pick = zlib.crc32(value.encode())
    return value if pick % 4 == 0 else CONFIG.symbols[pick % len(CONFIG.symbols)]


@schema.hook("map_path_parameters")
def _path_symbols(_, parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if parameters and "symbol" in parameters:
        parameters = {**parameters, "symbol": _configured(parameters["symbol"])}
    return parameters


@schema.hook("map_body")
def _body_symbols(_, body: Any) -> Any:
    if isinstance(body, dict) and "symbol" in body:
        body = {**body, "symbol": _configured(body["symbol"])}
    return body


@schema.hook("map_headers")
def _api_key(_, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    presented = (headers or {}).get("X-API-Key", "")
    if zlib.crc32(str(presented).encode()) % 5 == 0:
        return headers
    return {**(headers or {}), "X-API-Key": KEY}


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_answers_conform_to_the_openapi_document(case) -> None:
    # Not checked: that every schema-valid request is accepted (a valid window may not be
    # configured, an entry may lie outside the map), and that a presented key is refused
    # (the headers hook above replaces most keys by a valid one on purpose). The /ui page reads
    # its own query and falls back to defaults for what it does not know, so it accepts any.
    excluded = [positive_data_acceptance, ignored_auth]
    if case.operation.path == "/ui":
        excluded.append(negative_data_rejection)
    if case.operation.path.startswith("/liquidations/"):
        excluded.append(not_a_server_error)
    case.call_and_validate(excluded_checks=excluded)


def test_every_route_is_documented_with_its_errors() -> None:
    document = APP.openapi()
    served = {(method, route.path)
              for module in pkgutil.iter_modules(routes.__path__)
              for route in importlib.import_module(f"{routes.__name__}.{module.name}").router.routes
              if route.include_in_schema for method in route.methods - {"HEAD"}}
    documented = {(method.upper(), path) for path, ops in document["paths"].items()
                  for method in ops}
    assert served == documented
    assert "/stream/maps" in document["paths"]
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            responses = operation["responses"]
            success = [s for s in responses if s.startswith("2")]
            assert success, (method, path)
            assert "422" in responses, (method, path)
            for status, response in responses.items():
                if status[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"]
                    schema_ref = response["content"]["application/problem+json"]["schema"]
                    assert schema_ref == {"$ref": "#/components/schemas/Problem"}
    assert "401" in document["paths"]["/orders"]["post"]["responses"]
    assert "409" in document["paths"]["/orders"]["post"]["responses"]
    assert "503" in document["paths"]["/map/{symbol}"]["get"]["responses"]
    stream = document["paths"]["/stream/maps"]["get"]["responses"]["200"]["content"]
    assert stream["text/event-stream"]["x-event-data"] == {
        "$ref": "#/components/schemas/MapEvent"}
    assert "MapEvent" in document["components"]["schemas"]
