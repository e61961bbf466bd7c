"""`/suggest/stop`'s advice, built as plain dicts, is `StopResponse`'s own `model_dump` of it
to the byte (fields in the model's order, numbers as its float fields hold them), for stops
with their own entries, sides, sizes, risks, loss limits and leverages on the replayed maps."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from execsvc.api.routes.suggest import _stop_answer
from execsvc.api.schemas import StopRequest, StopResponse
from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.store import BandStore
from tests.api.test_maps import SYMBOLS, make_settings


@pytest.fixture
async def maps(redis_client: Redis):
    config = make_settings()
    store = BandStore(redis_client)
    assert (await MapWorker(ReplaySource(speed=720, symbols=SYMBOLS), store, config).tick()
            ).failed == {}
    ctx = make_app(config, with_worker=False, store=store).state.ctx
    views = {symbol: await ctx.fresh_map(symbol, "7d", None) for symbol in SYMBOLS}
    return ctx, views


requests = st.fixed_dictionaries(
    {"symbol": st.sampled_from(SYMBOLS), "side": st.sampled_from(["long", "short", "sell"]),
     "entry_offset": st.floats(-0.05, 0.05)},
    optional={"risk_usd": st.integers(1, 10_000) | st.floats(0.5, 1e4),
              "quantity": st.floats(0.001, 100), "max_loss_pct": st.floats(0.05, 20),
              "leverage": st.floats(1, 125)},
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests, cross=st.booleans())
async def test_the_answer_is_the_models_dump(maps, request: dict, cross: bool) -> None:
    ctx, views = maps
    key, view, book = views[request["symbol"]]
    fields = {k: v for k, v in request.items() if k != "entry_offset"}
    fields["entry_price"] = round(view.price * (1 + request["entry_offset"]), 1)
    if cross and "leverage" in fields:
        fields.update(margin_mode="cross", account_equity_quote=10_000)
    body = StopRequest.model_validate(fields)
    answer = _stop_answer(body, key, view, book, ctx.settings, ctx.cache)
    ref = {"version": view.version, "age_s": 0.0, "stale": False, "exchange": "all"}
    model = StopResponse.model_validate({**answer, "map": ref})
    assert orjson.dumps(model.model_dump(exclude={"map"})) == orjson.dumps(answer)
