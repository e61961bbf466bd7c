"""`GET /model`: the running model's version and parameters, its last evaluation, and its
rolling online score against the realised liquidations ingested live."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from execsvc.api.deps import Ctx
from execsvc.api.problems import problems
from execsvc.api.responses import FastJSONResponse
from execsvc.api.schemas import OnlineScore
from execsvc.evaluation.run import MODEL_CARD, describe_params
from execsvc.maps.refresh import map_params

router = APIRouter(tags=["model"])


class ModelResponse(BaseModel):
    model_version: str = Field(description="the version every map document of this model carries")
    parameters: dict[str, Any] = Field(description="leverage mix, representative size, v2 switches")
    last_evaluation: dict[str, Any] | None = Field(
        description="the model card of the last `execsvc evaluate` (docs/evaluation.md)")
    last_evaluation_matches_running_model: bool
    online_score: OnlineScore = Field(
        description="where each realised liquidation fell in the map of its moment, rolling "
                    "per symbol; `available` false (with the reason) without a live stream")

    model_config = ConfigDict(protected_namespaces=())


@lru_cache(maxsize=4)
def read_card(path: Path) -> dict[str, Any] | None:
    """The model card written by `execsvc evaluate --variants --model-card`, or None."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@router.get("/model", summary="Model version, parameters, the scores of its last evaluation "
            "and its rolling online score",
            response_model=ModelResponse, responses=problems())
async def model(ctx: Ctx) -> FastJSONResponse:
    running = describe_params(map_params(ctx.settings))
    card = read_card(MODEL_CARD)
    evaluated = card["model"]["model_version"] if card else None
    return FastJSONResponse({
        "model_version": running["model_version"],
        "parameters": running,
        "last_evaluation": card,
        "last_evaluation_matches_running_model": evaluated == running["model_version"],
        "online_score": await ctx.online_score(),
    })
