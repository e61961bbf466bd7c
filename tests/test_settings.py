"""Settings: `.env.example` documents every setting with a default that parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from execsvc.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_env_example_lists_every_setting_and_parses_to_the_defaults() -> None:
    names = set(re.findall(r"^EXECSVC_([A-Z_]+)=", EXAMPLE.read_text(), re.M))
    assert names == {name.upper() for name in Settings.model_fields}
    from_example = Settings(_env_file=EXAMPLE)
    defaults = Settings(_env_file=None)
    assert from_example.model_dump() == defaults.model_dump()


@pytest.mark.parametrize(("name", "value"), [
    ("windows", "1d,2w"), ("symbols", ""), ("leverage_mix", "10:0,20:0"),
    ("bin_width_bps", "0"), ("refresh_interval_s", "-1"),
])
def test_bad_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings(_env_file=None, **{name: value})


# ---- secrets never reach an error message or a log (issue 10, finding 3) ------------------------

SECRET = "s3cr3t-do-not-print-7f3a9c"


def test_the_live_settings_error_of_the_probe_shows_no_secret(tmp_path) -> None:
    """`EXECSVC_TRADING_MODE=live EXECSVC_EXCHANGE_SECRET=... execsvc api` with a bad
    combination (live on replayed prices) is refused in one line naming the settings, and
    no value (exchange secret, exchange key, API keys, Redis password) appears on stderr."""
    import os
    import subprocess
    import sys

    secrets = {"EXECSVC_EXCHANGE_SECRET": "xS3c", "EXECSVC_EXCHANGE_API_KEY": "xK3y",
               "EXECSVC_API_KEYS": "aK3y", "EXECSVC_REDIS_URL": "redis://:rP4ss@127.0.0.1:1/0"}
    env = {**os.environ, "EXECSVC_TRADING_MODE": "live", "EXECSVC_SOURCE": "replay",
           **secrets}
    done = subprocess.run([sys.executable, "-m", "execsvc.cli", "api"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "TRADING_MODE=live needs SOURCE=ccxt" in done.stderr
    output = done.stderr + done.stdout
    # short values: pydantic's own message would show at least the end of its input repr
    assert [v for v in ("xS3c", "xK3y", "aK3y", "rP4ss") if v in output] == []
    assert "input_value" not in output and "Traceback" not in output


def _invalid_value(name: str) -> str:
    return f"{SECRET}-{name}"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_no_setting_value_appears_in_its_error(name: str, monkeypatch) -> None:
    """Every setting given a bad value containing a marker: the error names the variable, never
    the value (pydantic's own text would echo `input_value=...`)."""
    from typer.testing import CliRunner

    from execsvc.cli import app

    monkeypatch.setenv(f"EXECSVC_{name.upper()}", _invalid_value(name))
    if name == "trading_mode":
        monkeypatch.setenv("EXECSVC_EXCHANGE_SECRET", _invalid_value("secret"))
    result = CliRunner().invoke(app, ["worker"])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert SECRET not in output
    if result.exit_code == 2 and "invalid settings" in output:
        assert f"EXECSVC_{name.upper()}" in output


def test_a_bad_live_account_list_names_the_setting_only(monkeypatch) -> None:
    from typer.testing import CliRunner

    from execsvc.cli import app

    monkeypatch.setenv("EXECSVC_LIVE_ACCOUNTS", f'[{{"api_key": "{SECRET}"}}]')
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "EXECSVC_LIVE_ACCOUNTS" in result.output and SECRET not in result.output


async def test_start_up_logs_and_store_errors_show_no_secret(caplog) -> None:
    """What a live service logs at start-up, and the error of an unreachable Redis whose URL
    carries a password, contain none of the secrets."""
    import logging

    from execsvc.runtime import log_startup, make_store
    from execsvc.store import StoreUnavailable

    settings = Settings(_env_file=None, trading_mode="live", source="ccxt",
                        exchange_api_key=f"{SECRET}-k", exchange_secret=f"{SECRET}-s",
                        api_keys=f"{SECRET}-a", redis_url=f"redis://:{SECRET}@127.0.0.1:1/0")
    store = make_store(settings)
    with caplog.at_level(logging.DEBUG):
        log_startup(settings, "serve", store)
        with pytest.raises(StoreUnavailable) as failure:
            await store.ping()
    assert SECRET not in caplog.text + str(failure.value) + repr(settings)
    assert "127.0.0.1" not in str(failure.value), "no infrastructure detail in the message"
    await store.redis.aclose()


# ---- several venues (issue 14) ------------------------------------------------------------------


def test_venue_settings_parse_from_the_environment() -> None:
    config = Settings(_env_file=None, exchanges=" Bybit, okx ,hyperliquid",
                      venue_symbols='{"pepeusdt": {"Hyperliquid": "KPEPE/USDC:USDC"}}',
                      exchange_base_urls='{"bybit": "http://127.0.0.1:9001/"}')
    assert config.exchanges == ["bybit", "okx", "hyperliquid"]
    assert config.venue_symbols == {"PEPEUSDT": {"hyperliquid": "KPEPE/USDC:USDC"}}
    assert config.exchange_base_urls == {"bybit": "http://127.0.0.1:9001"}
    empty = Settings(_env_file=None, exchanges="", venue_symbols="", exchange_base_urls="")
    assert (empty.exchanges, empty.venue_symbols, empty.exchange_base_urls) == ([], {}, {})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("exchanges", "bybit,bybit", "twice"),
    ("exchanges", "bybit,okx/v5", "ccxt exchange ids"),
    ("venue_symbols", "{not json", "JSON object"),
    ("venue_symbols", '{"BTCUSDT": "BTC/USDT:USDT"}', "venue_symbols"),
    ("exchange_base_urls", '{"bybit": "ftp://x"}', "http"),
    ("exchange_base_urls", "[1]", "exchange_base_urls"),
])
def test_bad_venue_settings_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as excinfo:
        Settings(_env_file=None, **{name: value})
    assert name in str(excinfo.value)
