"""`execsvc` command line: serve, api, worker, liquidations, map, evaluate, backtest, bench."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import orjson
import typer

from execsvc.settings import Settings, describe_settings_error

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _settings(**overrides: object) -> Settings:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, SettingsError) as exc:
        typer.echo(f"invalid settings: {describe_settings_error(exc)}", err=True)
        raise typer.Exit(2) from None
    from execsvc.runtime import configure_logging

    configure_logging(settings)
    return settings


@contextmanager
def _starting() -> Iterator[None]:
    """Configuration errors at start-up as one clean line naming the settings to fix."""
    from execsvc.runtime import start_up_problem

    try:
        yield
    except Exception as exc:
        problem = start_up_problem(exc)
        if problem is None:
            raise
        typer.echo(problem, err=True)
        raise typer.Exit(2) from exc


def _uvicorn(settings: Settings, *, with_worker: bool) -> None:
    from execsvc.api.server import serve
    from execsvc.runtime import load_policy, log_startup, make_app, make_store

    with _starting():
        policy = load_policy(settings)
        store = make_store(settings)
        log_startup(settings, "serve" if with_worker else "api", store, policy)
        application = make_app(settings, with_worker=with_worker, policy=policy, store=store)
    # uvicorn re-raises the SIGTERM it handled once it has shut down; exiting through SystemExit
    # instead lets exit handlers run (the embedded store shuts its server down cleanly).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(application, settings)


Host = Annotated[str | None, typer.Option(help="Bind address (EXECSVC_HOST)")]
Port = Annotated[int | None, typer.Option(help="Port (EXECSVC_PORT)")]


@app.command()
def serve(host: Host = None, port: Port = None) -> None:
    """API and worker in one process (embedded store unless EXECSVC_REDIS_URL is set)."""
    _uvicorn(_settings(host=host, port=port), with_worker=True)


@app.command()
def api(host: Host = None, port: Port = None) -> None:
    """HTTP API only; maps come from workers through Redis (EXECSVC_REDIS_URL required)."""
    settings = _settings(host=host, port=port)
    _require_redis(settings, "api")
    _uvicorn(settings, with_worker=False)


@app.command()
def worker() -> None:
    """Refresh loop only, writing maps to Redis (EXECSVC_REDIS_URL required)."""
    from execsvc.runtime import log_startup, make_store, make_worker

    settings = _settings()
    _require_redis(settings, "worker")
    with _starting():
        store = make_store(settings)
        log_startup(settings, "worker", store)
        the_worker = make_worker(settings, store)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await the_worker.run(stop)
        finally:
            await the_worker.close()

    asyncio.run(main())


@app.command()
def liquidations() -> None:
    """Ingest realised liquidations from the exchange's websocket stream, score each against
    the map of its moment and store them (EXECSVC_REDIS_URL required). Without a live stream
    (replay mode, an unsupported exchange) it says why and idles until stopped, so a deployment
    can switch sources without a crash loop."""
    from execsvc.maps.liquidations import no_source_reason
    from execsvc.runtime import log_startup, make_liquidation_ingest, make_store

    settings = _settings()
    _require_redis(settings, "liquidations")
    reason = no_source_reason(settings)
    with _starting():
        store = make_store(settings)
        log_startup(settings, "liquidations", store)
        ingest = None if reason else make_liquidation_ingest(settings, store)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if ingest is None:
            logging.getLogger("execsvc").warning(
                "no liquidation stream to ingest: %s; idle until stopped", reason)
            await stop.wait()
            return
        await ingest.run(stop)

    asyncio.run(main())


def _require_redis(settings: Settings, role: str) -> None:
    if settings.redis_url is None:
        typer.echo(
            f"execsvc {role} runs beside other processes and needs a shared store: set "
            "EXECSVC_REDIS_URL (or use `execsvc serve` for the all-in-one embedded mode)",
            err=True,
        )
        raise typer.Exit(2)


@app.command("map")
def map_command(
    symbol: Annotated[str, typer.Argument(help="Symbol key, e.g. BTCUSDT")],
    window: Annotated[str, typer.Option(help="1d, 7d or 30d")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the map document as JSON")] = False,
    data: Annotated[
        Path | None, typer.Option(help="Directory with candles.csv [and open_interest.csv]")
    ] = None,
    rows: Annotated[int, typer.Option(help="Table rows on each side of the price")] = 10,
    row_bps: Annotated[float, typer.Option(help="Price span of one table row, bps")] = 50.0,
    exchange: Annotated[str | None, typer.Option(
        help="A venue's map, or `all`: the venues' maps summed (default: `all` when several "
             "configured venues cover the symbol)")] = None,
) -> None:
    """Build one map now and print it (a table of bands and clusters, or --json)."""
    from execsvc.cli.map_table import build_document, render

    settings = _settings(symbols=symbol, windows=window)
    try:
        document = asyncio.run(build_document(settings, symbol.upper(), window, data,
                                              exchange))
    except Exception as exc:
        typer.echo(f"cannot build the map: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render(document, row_bps, rows)


@app.command()
def evaluate(
    data: Annotated[Path | None, typer.Option(
        help="Directory with one <COIN>/ directory of candles.csv + open_interest.csv "
             "(+ optional funding.csv) each "
             "(default: the bundled evaluation set)")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="Realised daily liquidations CSV (default: bundled Hyperliquid Dec 2025)")] = None,
    window: Annotated[str, typer.Option(help="Map window: 1d, 7d or 30d")] = "7d",
    venue: Annotated[str, typer.Option(
        help="Venue whose map is scored, with its margin rules (hyperliquid or binanceusdm "
             "for a directory of coins such as the bundled set), or `all`: the venues' maps "
             "summed (a directory of <venue>/<COIN>/; the bundled set has one venue, "
             "Hyperliquid). The truth is always the realised liquidations of --truth "
             "(bundled: Hyperliquid's)")]
        = "hyperliquid",
    out: Annotated[Path | None, typer.Option(
        help="Write metrics.json, days.csv (and variants.json) here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON")] = False,
    variants: Annotated[bool, typer.Option(
        help="Also fit and score every model variant (LOWO / LOCO; about 90 s)")] = False,
    model_card: Annotated[Path | None, typer.Option(
        help="Write the model card GET /model serves (needs --variants)")] = None,
) -> None:
    """The map against realised liquidations, with the naive and shape-removed baselines."""
    from execsvc.cli.evaluate_table import render, write_card
    from execsvc.evaluation.calibration import DEFAULT_VARIANT
    from execsvc.evaluation.inputs import EvaluationInputError
    from execsvc.evaluation.run import (
        ALL_VENUES,
        DEFAULT_MARKETS,
        DEFAULT_TRUTH,
        dumps,
        write_outputs,
    )
    from execsvc.evaluation.run import (
        evaluate as run_evaluation,
    )
    from execsvc.evaluation.run import (
        model_card as make_card,
    )
    from execsvc.liqmap.venue_rules import VENUE_BRACKETS
    from execsvc.maps.refresh import map_params
    from execsvc.settings import WINDOW_SECONDS

    settings = _settings()
    if window not in WINDOW_SECONDS:
        typer.echo(f"--window must be one of {', '.join(WINDOW_SECONDS)}, not {window!r}",
                   err=True)
        raise typer.Exit(2)
    if venue not in VENUE_BRACKETS and venue != ALL_VENUES:
        typer.echo(f"--venue must be one of {', '.join(sorted(VENUE_BRACKETS))} or "
                   f"{ALL_VENUES}, not {venue!r}", err=True)
        raise typer.Exit(2)
    if model_card is not None and not variants:
        typer.echo("--model-card needs --variants (the card carries LOWO/LOCO scores)", err=True)
        raise typer.Exit(2)
    try:
        result = run_evaluation(
            map_params(settings), data_dir=data or DEFAULT_MARKETS, truth_file=truth or
            DEFAULT_TRUTH, window=window, window_s=WINDOW_SECONDS[window], venue=venue,
            variants=variants)
    except (EvaluationInputError, KeyError) as exc:
        typer.echo(f"cannot evaluate: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        sys.stdout.write(dumps(result.metrics))
    else:
        render(result)
    if out is not None:
        for path in write_outputs(result, out):
            typer.echo(f"wrote {path}", err=True)
    if model_card is not None:
        write_card(model_card, make_card(result, DEFAULT_VARIANT))
        typer.echo(f"wrote {model_card}", err=True)


@app.command()
def backtest(
    step_hours: Annotated[int, typer.Option(help="Hours between entries", min=1, max=168)] = 6,
    horizon_hours: Annotated[int, typer.Option(help="Hours each position is followed",
                                               min=1, max=168)] = 24,
    ftx: Annotated[bool, typer.Option(help="Also run on the FTX BTC-PERP month")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Cluster-aware stops and take-profit zones against ATR, fixed-percent and R-multiple
    rules on the recorded data (about 10 s)."""
    from execsvc.backtest.run import backtest as run_backtest
    from execsvc.cli.backtest_table import as_json as to_json
    from execsvc.cli.backtest_table import render
    from execsvc.execution.stops import StopParams
    from execsvc.maps.refresh import map_params

    settings = _settings()
    params = StopParams(atr_multiple=settings.stop_atr_multiple,
                        min_intensity=settings.stop_min_intensity,
                        reach_atr=settings.stop_reach_atr)
    result = run_backtest(map_params(settings), params, step_h=step_hours,
                          horizon_h=horizon_hours, with_ftx=ftx)
    if as_json:
        sys.stdout.write(orjson.dumps(to_json(result), option=orjson.OPT_INDENT_2).decode()
                         + "\n")
    else:
        render(result)


@app.command()
def bench(
    repeats: Annotated[int, typer.Option(help="Timed repetitions per figure")] = 30,
    symbols: Annotated[int, typer.Option(help="Symbols in the worker-tick benchmark")] = 1000,
    http_seconds: Annotated[float, typer.Option(help="Seconds of load per endpoint")] = 5.0,
    only: Annotated[list[str] | None, typer.Option(
        help="Run only these benchmarks (repeatable): map, documents, slicing, stop, load, "
             "stalls, paper, liquidations, tick")] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON document (sections, figures, targets, missed) instead of "
                       "the tables")] = False,
) -> None:
    """Print benchmark figures: medians and ratios against same-run baselines, each next to its
    target, missed targets marked MISSED and named in the last line."""
    from execsvc.bench.run import BENCHMARKS, BenchOptions, run_all

    unknown = sorted(set(only or ()) - set(BENCHMARKS))
    if unknown:
        typer.echo(f"unknown benchmark {', '.join(unknown)}; choose from "
                   f"{', '.join(BENCHMARKS)}", err=True)
        raise typer.Exit(2)
    if repeats < 1 or symbols < 1 or http_seconds <= 0:
        typer.echo("--repeats and --symbols must be >= 1 and --http-seconds > 0", err=True)
        raise typer.Exit(2)
    run_all(BenchOptions(repeats=repeats, tick_symbols=symbols, http_seconds=http_seconds),
            only=only or (), as_json=json_output)

