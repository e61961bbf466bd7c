"""The command line: `execsvc map` on the bundled replay data and on a user's CSV files."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from execsvc.cli import app
from execsvc.market.replay import ReplaySource
from execsvc.runtime import load_policy, log_startup, make_store
from execsvc.settings import Settings
from tests.support.redis_server import RedisServer

runner = CliRunner()


def test_map_prints_bands_and_clusters_on_both_sides() -> None:
    result = runner.invoke(app, ["map", "BTCUSDT", "--window", "7d"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "BTCUSDT on all" in result.output and "model oi_delta" in result.output
    assert "  hyperliquid: long " in result.output and "  lighter: long " in result.output
    assert "Clusters (largest first)" in result.output
    assert " long " in result.output and " short " in result.output


def test_map_json_is_the_api_document() -> None:
    result = runner.invoke(app, ["map", "ETHUSDT", "--window", "1d", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["symbol"] == "ETHUSDT" and document["window"] == "1d"
    assert len(document["bands"]) == 400 and document["clusters"]


def test_map_sums_the_venues_or_shows_one() -> None:
    documents = {}
    for exchange in ("all", "hyperliquid", "lighter"):
        result = runner.invoke(app, ["map", "BTCUSDT", "--window", "1d", "--json",
                                     "--exchange", exchange])
        assert result.exit_code == 0, result.output
        documents[exchange] = json.loads(result.output)
    summed = documents["all"]
    assert [v["exchange"] for v in summed["venues"] if v["included"]] == ["hyperliquid", "lighter"]
    for side in ("long", "short"):
        key = f"{side}_notional_quote"
        assert summed["totals"][key] == pytest.approx(
            documents["hyperliquid"]["totals"][key] + documents["lighter"]["totals"][key],
            abs=0.05)
    refused = runner.invoke(app, ["map", "BTCUSDT", "--exchange", "okx"])
    assert refused.exit_code == 1 and "choose all, hyperliquid, lighter" in refused.output


def write_csv(directory: Path, with_oi: bool) -> None:
    """Two days of the bundled BTCUSDT replay written in the documented CSV format."""
    candles = ReplaySource(720, ["BTCUSDT"]).dataset("BTCUSDT").candles.slice(0, 48)
    rows = ["open_time,open,high,low,close,volume"]
    for i in range(len(candles)):
        rows.append(f"{candles.open_time_ms[i]},{candles.open[i]},{candles.high[i]},"
                    f"{candles.low[i]},{candles.close[i]},{candles.volume[i]}")
    (directory / "candles.csv").write_text("\n".join(rows) + "\n")
    if with_oi:
        oi = ["time,oi_quote"] + [
            f"{candles.open_time_ms[i] + 3_600_000},{2e9 + 1e7 * (i % 7)}" for i in range(48)
        ]
        (directory / "open_interest.csv").write_text("\n".join(oi) + "\n")


def test_map_from_user_csv_with_and_without_open_interest(tmp_path: Path) -> None:
    for with_oi, model in ((True, "oi_delta"), (False, "volume_proxy")):
        directory = tmp_path / f"mydata_{with_oi}"
        directory.mkdir()
        write_csv(directory, with_oi)
        result = runner.invoke(app, ["map", "BTCUSDT", "--window", "1d", "--json",
                                     "--data", str(directory)])
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        assert document["model"] == model and document["exchange"] == "csv"


def test_map_with_bad_csv_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "candles.csv").write_text(
        "open_time,open,high,low,close,volume\n1700000000000,1,2,0.5,1.5,10\n"
        "1700000060000,1,oops,0.5,1.5,10\n"
    )
    result = runner.invoke(app, ["map", "BTCUSDT", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "candles.csv" in result.output and "line 3" in result.output
    assert "high" in result.output


def test_unknown_symbol_and_api_without_redis_exit_cleanly() -> None:
    assert runner.invoke(app, ["map", "NOPE"]).exit_code != 0
    result = runner.invoke(app, ["api"], env={"EXECSVC_REDIS_URL": ""})
    assert result.exit_code == 2 and "EXECSVC_REDIS_URL" in result.output


def test_serve_refuses_to_start_on_an_invalid_policy(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text(
        'name = "desk"\nversion = 1\n[default]\nmax_levrage = 5\n'
    )
    result = runner.invoke(app, ["serve", "--port", "0"],
                           env={"EXECSVC_POLICIES_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "refusing to start" in result.output and "max_levrage" in result.output


@pytest.mark.parametrize(("command", "env", "named"), [
    (["worker"], {"EXECSVC_REDIS_URL": "redis://127.0.0.1:1/0", "EXECSVC_SYMBOLS": "NOPE"},
     "EXECSVC_SYMBOLS"),
    (["serve", "--port", "0"], {"EXECSVC_TRADING_MODE": "live", "EXECSVC_SOURCE": "ccxt",
                                "EXECSVC_EXCHANGE_API_KEY": "", "EXECSVC_EXCHANGE_SECRET": ""},
     "EXECSVC_EXCHANGE_API_KEY"),
    (["serve", "--port", "0"], {"EXECSVC_SYMBOLS": "BTCUSDT,NOPE"}, "EXECSVC_SYMBOLS"),
])
def test_start_up_errors_are_one_line_naming_the_setting(command, env, named) -> None:
    result = runner.invoke(app, command, env=env)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if "refusing to start" in line]
    assert len(errors) == 1 and named in errors[0], result.output
    assert "Traceback" not in result.output


def test_liquidations_needs_a_shared_store() -> None:
    result = runner.invoke(app, ["liquidations"], env={"EXECSVC_REDIS_URL": ""})
    assert result.exit_code == 2 and "EXECSVC_REDIS_URL" in result.output


@pytest.mark.parametrize(("env", "said"), [
    ({"EXECSVC_SOURCE": "replay"}, "replay mode plays recorded market data"),
    ({"EXECSVC_SOURCE": "ccxt", "EXECSVC_EXCHANGE": "okx"},
     "okx is not a supported liquidation stream"),
])
def test_liquidations_without_a_stream_says_why_and_idles_until_stopped(
    redis_server: RedisServer, env: dict[str, str], said: str
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "execsvc.cli", "liquidations"],
        env={**os.environ, "EXECSVC_REDIS_URL": redis_server.url, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "idle until stopped" in line:
                break
        assert said in lines[-1], "".join(lines)
        time.sleep(0.3)
        assert process.poll() is None, "it keeps running: no crash loop in a deployment"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_start_up_logs_what_runs(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(_env_file=None, symbols="BTCUSDT,ETHUSDT", windows="1d,7d",
                        api_keys="k1,k2")
    with caplog.at_level(logging.INFO, logger="execsvc"):
        log_startup(settings, "serve", make_store(settings), load_policy(settings))
    lines = {r.getMessage().split(":")[0]: r for r in caplog.records}
    assert {"store", "source", "symbols", "windows", "policy", "trading mode"} <= set(lines)
    assert lines["store"].levelno == logging.WARNING
    assert "lost on restart" in lines["store"].getMessage()
    assert lines["symbols"].getMessage() == "symbols: BTCUSDT, ETHUSDT"
    assert lines["source"].getMessage() == (
        "source: replay of the bundled recordings of hyperliquid, lighter at 720x")
    assert "default@1.0.0" in lines["policy"].getMessage()
    assert "paper (2 API keys" in lines["trading mode"].getMessage()
    caplog.clear()
    secret = "redis://:hunter2@redis.internal:6380/0"
    remote = Settings(_env_file=None, redis_url=secret)
    with caplog.at_level(logging.INFO, logger="execsvc"):
        log_startup(remote, "worker", make_store(remote))
    text = caplog.text
    assert "redis://redis.internal:6380/0" in text and "hunter2" not in text
    assert "trading mode" not in text and "source: replay" in text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="execsvc"):
        log_startup(settings, "serve", make_store(settings))
    assert "realised liquidations: none (replay mode" in caplog.text
    live = Settings(_env_file=None, source="ccxt", windows="1d,7d")
    several = Settings(_env_file=None, source="ccxt", exchanges="binanceusdm,bybit,okx")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="execsvc"):
        log_startup(several, "worker", make_store(several))
    assert "source: ccxt binanceusdm, bybit, okx (1m candles, without keys)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="execsvc"):
        log_startup(live, "liquidations", make_store(live))
    assert "realised liquidations: ccxt binanceusdm websocket, scored against the 7d maps, " \
           "kept 168 h" in caplog.text
