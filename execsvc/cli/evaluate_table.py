"""`execsvc evaluate`: the map against realised liquidations, with the naive baseline, printed
as tables (or JSON) and written to `--out` (execsvc/evaluation/run.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from execsvc.evaluation.run import Evaluation
from execsvc.evaluation.scores import SIDES

NEUTRAL = {"leverage_mix": "v1", "stock_half_life_h": 0.0, "cross_share": 0.0}
"""Free-parameter values not shown in the variants table (the v1 mix, no stock, no cross)."""
SHORT_NAMES = {"leverage_mix": "mix", "stock_half_life_h": "half-life h",
               "cross_share": "cross", "funding_crowding": "crowding",
               "churn_rate_per_day": "churn/day"}
LABELS = {"map": "map v2 (bands + churn)", "naive": "naive OI x move",
          "shape": "shape removed", "bands": "map bands only"}


def _cell(entry: dict[str, Any]) -> str:
    low, high = entry["ci95"]
    return f"{entry['value']:.3f} [{low:.2f}, {high:.2f}]"


def scores_table(metrics: dict[str, Any], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("within-coin Spearman")
    for side in SIDES:
        table.add_column(f"{side} (95 % CI)", justify="right")
    table.add_column("side match", justify="right")
    for model, label in LABELS.items():
        row = metrics["spearman_within_coin"][model]
        table.add_row(label, *(_cell(row[s]) for s in SIDES),
                      f"{metrics['side_match'][model]:.2f}")
    for key, label in (("map_minus_naive", "map - naive"), ("map_minus_shape", "map - shape")):
        table.add_row(label, *(_cell(metrics[key][s]) for s in SIDES), "")
    return table


def _triple(block: dict[str, Any], model: str = "map") -> str:
    return "/".join(f"{block[model][s]:.2f}" for s in SIDES)


def variants_table(study: dict[str, Any]) -> Table:
    naive = _triple(study["variants"][0]["in_sample"], "naive")
    table = Table(title=f"Variants (map long/short/total; naive {naive} on the same days; "
                  "nested: the default or the variant, chosen in each fold)",
                  title_justify="left")
    for column in ("variant", "candidates", "in-sample", "LOWO", "LOCO", "nested LOWO",
                   "nested LOCO"):
        table.add_column(column, no_wrap=True)
    table.add_column("fitted on all days")
    against = study.get("selection_against_default", {})
    for v in study["variants"]:
        fitted = ", ".join(f"{SHORT_NAMES.get(k, k)} {val}"
                           for k, val in v["fitted_on_all_days"].items() if NEUTRAL.get(k) != val)
        nested = against.get(v["name"])
        table.add_row(v["name"], str(v["candidates"]), _triple(v["in_sample"]),
                      _triple(v["lowo"]), _triple(v["loco"]),
                      _triple(nested["lowo"]["scores"]) if nested else "",
                      _triple(nested["loco"]["scores"]) if nested else "", fitted)
    procedure = study["selection_procedure"]
    table.add_row("selection among all", "", "", "", "",
                  _triple(procedure["lowo"]["scores"]), _triple(procedure["loco"]["scores"]), "")
    return table


def render(result: Evaluation) -> None:
    console = Console(width=max(160, Console().width))
    m = result.metrics
    console.print(f"[bold]execsvc evaluate[/]  model {m['model']['model_version']}  "
                  f"window {m['inputs']['window']}  venue {m['inputs']['venue']}  "
                  f"{m['days']} days: " + ", ".join(f"{c} {n}" for c, n in m["coins"].items())
                  + f"  ({len(m['skipped_days'])} truth rows skipped)")
    inputs = m["inputs"]
    console.print(f"maps of: {' + '.join(inputs['venues_summed'])}"
                  + (" (summed)" if len(inputs["venues_summed"]) > 1 else "")
                  + f"; truth: {inputs['truth_venue']}'s realised liquidations")
    console.print(scores_table(m, "Map against realised liquidations, in sample "
                                  "(fixed parameters; bootstrap over calendar days)"))
    partial = m["partial_spearman_map_given_naive"]
    console.print("partial rank correlation, map given naive: "
                  + "  ".join(f"{s} {partial[s]:.3f}" for s in SIDES))
    for side, test in m["cluster_attraction"].items():
        console.print(f"cluster attraction ({side}): the day reaches the nearest top-3 cluster "
                      f"on {test['hit_rate']:.0%} of {test['days']} days, random bands at the "
                      f"same distances {test['random_hit_rate']:.0%}, p = {test['p_value']:.3f}")
    if result.study is not None:
        console.print(variants_table(result.study))


def write_card(path: Path, card: dict[str, Any]) -> None:
    from execsvc.evaluation.run import dumps

    path.write_text(dumps(card), encoding="utf-8")
