"""`GET /model`: the running model's version and parameters, and its last evaluation."""

from __future__ import annotations

from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_app
from execsvc.settings import Settings
from execsvc.store import BandStore
from tests.support.apps import asgi_client


async def test_model_states_the_version_the_maps_carry(redis_client: Redis) -> None:
    config = Settings(_env_file=None, symbols="BTCUSDT", windows="7d")
    store = BandStore(redis_client)
    worker = MapWorker(ReplaySource(speed=720, symbols=["BTCUSDT"]), store, config)
    assert (await worker.tick()).failed == {}
    async with asgi_client(make_app(config, with_worker=False, store=store)) as client:
        model = (await client.get("/model")).json()
        document = (await client.get("/map/BTCUSDT", params={"window": "7d"})).json()
        other = Settings(_env_file=None, symbols="BTCUSDT", windows="7d",
                         churn_rate_per_day=0.3)
    assert model["model_version"] == document["model_version"]
    assert model["parameters"]["churn_rate_per_day"] == config.churn_rate_per_day
    card = model["last_evaluation"]
    # the bundled card was written for the default settings
    assert model["last_evaluation_matches_running_model"] is True
    assert card["model"]["model_version"] == model["model_version"]
    for block in ("spearman_within_coin", "lowo", "loco"):
        assert set(card[block]["map"]) == {"long", "short", "total"}
    assert model["online_score"]["available"] is False
    async with asgi_client(make_app(other, with_worker=False, store=store)) as client:
        changed = (await client.get("/model")).json()
    assert changed["model_version"] != model["model_version"]
    assert changed["last_evaluation_matches_running_model"] is False
