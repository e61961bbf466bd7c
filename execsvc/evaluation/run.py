"""`execsvc evaluate`: load inputs, predict, score, and write the outputs.

Outputs (with `--out DIR`):
- `metrics.json`: every score of `scores.score`, the model version and parameters, the inputs,
  the skipped days; with `--variants`, also `variants.json` (every variant: in-sample, LOWO and
  LOCO scores, fitted parameters and per-fold choices; the validated selection procedure).
- `days.csv`: one row per evaluated (coin, day) with exactly the columns `DAY_COLUMNS`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from execsvc.evaluation.calibration import run_study
from execsvc.evaluation.inputs import EvaluationInputError, load_truth, load_venue_markets
from execsvc.evaluation.predict import DayPrediction, predict_all_venues
from execsvc.evaluation.scores import score, score_columns
from execsvc.liqmap.model import MapParams, model_parameters, model_version
from execsvc.maps.venue_build import venue_params

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_MARKETS = DATA_DIR / "markets"
DEFAULT_TRUTH = DATA_DIR / "truth" / "hyperliquid_daily_2025-12.csv"

MODEL_CARD = Path(__file__).resolve().parent / "model_card.json"
TRUTH_VENUE = "hyperliquid"
"""Whose realised liquidations the bundled truth file holds: the evaluation's truth."""
BUNDLED_VENUE = "hyperliquid"
"""The venue of a directory of coins under `--venue all`: the bundled set is Hyperliquid's
open interest (with Binance candles as the price proxy, DATA.md)."""
ALL_VENUES = "all"
DAY_COLUMNS = (
    "date", "coin", "predicted_long_quote", "predicted_short_quote", "realized_long_quote",
    "realized_short_quote", "naive_long_quote", "naive_short_quote", "open", "high", "low",
    "oi_quote",
)


def _shown_path(path: Path) -> str:
    """A bundled input as `<bundled>/...` (the same in every checkout), any other as given."""
    try:
        return f"<bundled>/{Path(path).resolve().relative_to(DATA_DIR).as_posix()}"
    except ValueError:
        return str(path)


def describe_params(params: MapParams) -> dict[str, Any]:
    """The model's version and parameters, JSON-ready."""
    return {
        "model_version": model_version(params),
        "leverage_mix": {f"{k:g}": v for k, v in sorted(params.leverage_mix.items())},
        "position_notional_quote": params.position_notional_quote,
        **model_parameters(params),
    }


def day_row(p: DayPrediction) -> list[object]:
    return [p.date.isoformat(), p.coin, round(p.predicted_long, 2), round(p.predicted_short, 2),
            round(p.realized_long, 2), round(p.realized_short, 2), round(p.naive_long, 2),
            round(p.naive_short, 2), p.open, p.high, p.low, round(p.oi_quote, 2)]


def write_days(path: Path, predictions: list[DayPrediction]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DAY_COLUMNS)
        writer.writerows(day_row(p) for p in predictions)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


def dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), indent=2, sort_keys=False) + "\n"


@dataclasses.dataclass
class Evaluation:
    """One run's results: per-day predictions, metrics, and optionally the variant study."""

    predictions: list[DayPrediction]
    metrics: dict[str, Any]
    study: dict[str, Any] | None = None


def evaluate(
    params: MapParams, *, data_dir: Path = DEFAULT_MARKETS, truth_file: Path = DEFAULT_TRUTH,
    window: str = "7d", window_s: int = 7 * 86_400, venue: str = "hyperliquid",
    variants: bool = False, resamples: int = 2000,
) -> Evaluation:
    """Run the evaluation (see the package docs); raises `EvaluationInputError` on bad input.

    `venue`: a directory of coins is one venue's data, priced with `venue`'s margin rules (under
    `all`: `BUNDLED_VENUE`'s, a sum of one venue); a directory of venues is scored on `venue`'s
    data alone, or on the venues' summed maps with `all`."""
    truth = load_truth(truth_file)
    single = BUNDLED_VENUE if venue == ALL_VENUES else venue
    venue_markets = load_venue_markets(data_dir, {day.coin for day in truth}, single)
    if venue != ALL_VENUES:
        if venue not in venue_markets:
            raise EvaluationInputError(f"{data_dir}: no data of venue {venue!r}; it has: "
                                       f"{', '.join(venue_markets)} (or all)")
        venue_markets = {venue: venue_markets[venue]}
    predictions, skipped = predict_all_venues(venue_markets, truth, window, window_s, params)
    # one venue's maps are built with its liquidation formula (`venue_build.venue_params`)
    scored = params if venue == ALL_VENUES else venue_params(params, venue)
    if not predictions:
        raise EvaluationInputError(
            f"{truth_file}: no truth day can be evaluated with a {window} window "
            f"({len(skipped)} skipped, e.g. {skipped[0] if skipped else 'none'})")
    metrics = {
        "model": {**describe_params(scored), "liquidation_formula": scored.formula},
        "inputs": {"data": _shown_path(data_dir), "truth": _shown_path(truth_file),
                   "window": window,
                   "venue": venue,
                   "venues_summed": list(venue_markets),
                   "truth_venue": TRUTH_VENUE if truth_file == DEFAULT_TRUTH else "as given",
                   "open_interest_known_after_s": 3600},
        "skipped_days": skipped,
        **score(predictions, resamples=resamples),
    }
    study = None
    if variants:
        if len(venue_markets) > 1:
            raise EvaluationInputError("--variants studies one venue's data (each variant "
                                       "names its margin rules): pick --venue")
        (markets,) = venue_markets.values()
        study = run_study(params, markets, truth, window, window_s)
        for result in study["variants"]:
            for key in ("lowo", "loco"):
                scored = score_columns(result.pop(f"{key}_columns"), resamples=resamples)
                result[f"{key}_ci95"] = scored["spearman_within_coin"]
            result["params"] = describe_params(result["params"])
    return Evaluation(predictions, metrics, study)


def write_outputs(result: Evaluation, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "metrics.json", out / "days.csv"]
    written[0].write_text(dumps(result.metrics), encoding="utf-8")
    write_days(written[1], result.predictions)
    if result.study is not None:
        written.append(out / "variants.json")
        written[-1].write_text(dumps(result.study), encoding="utf-8")
    return written


def model_card(result: Evaluation, winner: str | None) -> dict[str, Any]:
    """What `GET /model` serves about the last evaluation: scores in-sample with intervals,
    and, when the variant study ran, the LOWO/LOCO scores of the configured model's variant."""
    m = result.metrics
    card: dict[str, Any] = {
        "model": m["model"],
        "evaluated_on": {**m["inputs"], "days": m["days"], "coins": m["coins"]},
        "spearman_within_coin": m["spearman_within_coin"],
        "map_minus_naive": m["map_minus_naive"],
        "side_match": m["side_match"],
    }
    if result.study is not None and winner is not None:
        chosen = next(v for v in result.study["variants"] if v["name"] == winner)
        card["variant"] = winner
        card["lowo"] = chosen["lowo_ci95"]
        card["loco"] = chosen["loco_ci95"]
    return card
