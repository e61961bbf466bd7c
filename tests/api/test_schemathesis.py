"""Property-based API test from the app's own OpenAPI document (schemathesis): whatever it
generates, within the schema or just outside it, the service never answers 5xx (a map that is
not there yet may be 503 with a reason; these tests run with fresh maps, so none is)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from execsvc.store.connection import connect

CONFIG = Settings(_env_file=None, windows="1d,7d", refresh_interval_s=60)
STORE = BandStore(connect(CONFIG))
APP = make_app(CONFIG, with_worker=True, store=STORE,
               worker=MapWorker(ReplaySource(720), STORE, CONFIG))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code,
                                        response.text)
