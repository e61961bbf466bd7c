"""`execsvc backtest` output: the tuning choice and one table of stops and targets per part."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from execsvc.backtest.run import Backtest


def render(result: Backtest) -> None:
    chosen = result.chosen
    typer.echo(f"execsvc backtest: entries every {result.step_h} h, a long and a short each, "
               f"horizon {result.horizon_h} h; every position sized to lose 1 R at its stop")
    typer.echo(f"clusters that matter, chosen on the {result.train_label}: intensity >= "
               f"{chosen.min_intensity:g} within {chosen.reach_atr:g} ATR (stop-out rate "
               f"{chosen.train_gap:+.1%} against its ATR baseline there; the other pairs: "
               + ", ".join(f"{t.min_intensity:g}/{t.reach_atr:g} ATR {t.train_gap:+.1%}"
                           for t in result.grid if t != chosen) + ")")
    for part in result.parts:
        typer.echo("")
        typer.echo(f"{part.label}: {part.entries} entries")
        typer.echo(f"  {'stop rule':<20} {'distance':>9} {'stopped':>8} {'wick':>7} "
                   f"{'mean R':>7} {'5% R':>6}")
        for s in part.stops:
            typer.echo(f"  {s.rule:<20} {s.distance_pct:>8.2f}% {s.stop_rate:>8.1%} "
                       f"{s.wick_rate:>7.1%} {s.mean_r:>+7.2f} {s.tail5_r:>+6.2f}")
        names = {"stopped": "stopped", "wick": "wick", "pnl_r": "mean R"}
        typer.echo("  cluster-aware minus ATR (95 % interval, bootstrap over entry days): "
                   + "; ".join(
                       f"{names[d.metric]} {d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
                       for d in part.versus_atr))
        typer.echo(f"  {'take-profit target':<20} {'distance':>9} {'filled':>8} {'':>7} "
                   f"{'mean R':>7}   (bracket with the cluster-aware stop; "
                   f"{part.targets[0].positions} positions with a zone)")
        for t in part.targets:
            typer.echo(f"  {t.target:<20} {t.distance_r:>8.2f}R {t.fill_rate:>8.1%} {'':>7} "
                       f"{t.mean_r:>+7.2f}")


def as_json(result: Backtest) -> dict[str, Any]:
    return asdict(result)
