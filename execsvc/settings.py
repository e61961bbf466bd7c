"""Service settings: environment variables with the prefix `EXECSVC_`, or a `.env` file.

`.env.example` lists every setting with its default and meaning.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

WINDOW_SECONDS = {"1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}


_VENUE_ID = re.compile(r"[a-z][a-z0-9]*")
_JSON_SHAPES = {
    "venue_symbols": 'symbol key -> venue -> ccxt symbol, e.g. {"BTCUSDT": {"hyperliquid": '
                     '"BTC/USDC:USDC"}}',
    "exchange_base_urls": 'venue -> base URL, e.g. {"bybit": "http://127.0.0.1:9001"}',
}


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class LiveAccount(BaseModel):
    """One service API key and the exchange account its live orders go to (all secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr
    exchange_api_key: SecretStr
    exchange_secret: SecretStr


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXECSVC_", env_file=".env", extra="ignore", frozen=True
    )

    redis_url: SecretStr | None = None
    redis_max_connections: int = Field(64, ge=1, le=10_000)
    redis_pool_timeout_s: float = Field(5.0, gt=0, le=300)
    data_dir: str | None = "~/.local/share/execsvc"
    source: Literal["replay", "ccxt"] = "replay"
    exchange: str = "binanceusdm"
    exchange_base_url: str | None = None
    exchanges: Annotated[list[str], NoDecode] = []
    venue_symbols: Annotated[dict[str, dict[str, str]], NoDecode] = {}
    exchange_base_urls: Annotated[dict[str, str], NoDecode] = {}
    symbols: Annotated[list[str], NoDecode] = ["BTCUSDT", "ETHUSDT", "BTC-PERP"]
    refresh_interval_s: float = Field(5.0, gt=0)
    windows: Annotated[list[str], NoDecode] = ["1d", "7d", "30d"]
    leverage_mix: Annotated[dict[float, float], NoDecode] = {10: 0.35, 25: 0.3, 50: 0.2, 100: 0.15}
    position_notional_quote: float = Field(10_000.0, gt=0)
    # model v2 (docs/evaluation.md): defaults are the out-of-sample winner on the bundled set
    cap_leverage_to_venue: bool = True
    side_split: Literal["aggressor", "even"] = "even"
    churn_rate_per_day: float = Field(0.1, ge=0, le=100)
    oi_units: Literal["quote", "base"] = "quote"
    stock_half_life_h: float = Field(0.0, ge=0, le=24 * 60)
    cross_share: float = Field(0.0, ge=0, le=1)
    cross_margin_multiple: float = Field(2.0, ge=1, le=100)
    bin_width_bps: float = Field(10.0, gt=0, le=1000)
    range_pct: float = Field(20.0, gt=0, lt=100)
    max_map_age_s: float = Field(30.0, gt=0)
    stop_atr_multiple: float = Field(0.5, ge=0)
    stop_min_intensity: float = Field(0.5, ge=0, le=1)
    stop_reach_atr: float = Field(4.0, gt=0, le=1000)
    map_ttl_s: float = Field(120.0, gt=0)
    replay_speed: float = Field(720.0, gt=0)
    ccxt_timeframe: str = "1m"
    ccxt_timeout_ms: int = Field(10_000, gt=0)
    trading_mode: Literal["paper", "live"] = "paper"
    paper_taker_fee_bps: float = Field(5.0, ge=0, le=100)
    paper_maker_fee_bps: float = Field(2.0, ge=-10, le=100)
    paper_latency_ms: float = Field(0.0, ge=0, le=10_000)
    paper_starting_balance_quote: float = Field(10_000.0, gt=0)
    paper_order_history: int = Field(1_000, ge=10, le=1_000_000)
    paper_snapshot_every: int = Field(10_000, ge=100, le=10_000_000)
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None
    liquidations: bool = True
    liquidation_retention_h: float = Field(168.0, gt=0, le=24 * 90)
    liquidation_max_per_symbol: int = Field(100_000, ge=100, le=10_000_000)
    liquidation_score_window: str | None = None
    liquidation_score_hours: int = Field(24, ge=1, le=24 * 30)
    liquidation_heartbeat_s: float = Field(5.0, gt=0, le=60)
    live_accounts: Annotated[list[LiveAccount], NoDecode] = []
    live_request_timeout_s: float = Field(30.0, ge=1, le=600)
    policies_dir: str = "policies/"
    policy_file: str = "default.toml"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_body_bytes: int = Field(65_536, ge=1_024, le=64 * 1024 * 1024)
    header_timeout_s: float = Field(10.0, gt=0, le=300)
    body_timeout_s: float = Field(10.0, gt=0, le=300)
    max_connections: int = Field(1_024, ge=1, le=100_000)
    log_level: str = "INFO"

    @field_validator("redis_url", "data_dir", "exchange_api_key", "exchange_secret",
                     "exchange_base_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("symbols", "windows", mode="before")
    @classmethod
    def _csv_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("exchanges", mode="before")
    @classmethod
    def _csv_exchanges(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("exchanges")
    @classmethod
    def _known_exchanges(cls, value: list[str]) -> list[str]:
        venues = [venue.strip().lower() for venue in value]
        if len(set(venues)) != len(venues):
            raise ValueError("exchanges must not name a venue twice")
        if any(not _VENUE_ID.fullmatch(venue) for venue in venues):
            raise ValueError("exchanges takes ccxt exchange ids (lower-case letters and digits), "
                             "comma-separated, e.g. binanceusdm,bybit,okx,hyperliquid")
        return venues

    @field_validator("venue_symbols", "exchange_base_urls", mode="before")
    @classmethod
    def _json_object(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            shape = _JSON_SHAPES[str(info.field_name)]
            raise ValueError(f"{info.field_name} must be a JSON object ({shape})") from None

    @field_validator("venue_symbols")
    @classmethod
    def _venue_symbol_keys(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return {key.upper(): {venue.lower(): unified for venue, unified in by_venue.items()}
                for key, by_venue in value.items()}

    @field_validator("exchange_base_urls")
    @classmethod
    def _base_urls(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not url.startswith(("http://", "https://")) for url in value.values()):
            raise ValueError("exchange_base_urls values must be http:// or https:// URLs")
        return {venue.lower(): url.rstrip("/") for venue, url in value.items()}

    @field_validator("api_keys", mode="before")
    @classmethod
    def _csv_keys(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("live_accounts", mode="before")
    @classmethod
    def _json_accounts(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value) if value.strip() else []
        except ValueError:
            raise ValueError("live_accounts must be a JSON list of {api_key, exchange_api_key, "
                             "exchange_secret} objects") from None

    @field_validator("symbols")
    @classmethod
    def _symbols_present(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is required")
        return [symbol.upper() for symbol in value]

    @field_validator("windows")
    @classmethod
    def _known_windows(cls, value: list[str]) -> list[str]:
        if not value or any(w not in WINDOW_SECONDS for w in value):
            raise ValueError(f"windows must be among {', '.join(WINDOW_SECONDS)}")
        return value

    @field_validator("leverage_mix", mode="before")
    @classmethod
    def _parse_mix(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        mix: dict[float, float] = {}
        for part in value.split(","):
            leverage, _, weight = part.partition(":")
            try:
                mix[float(leverage)] = float(weight)
            except ValueError:
                raise ValueError("leverage_mix takes leverage:weight pairs, e.g. 10:0.5,25:0.5"
                                 ) from None
        return mix

    @field_validator("leverage_mix")
    @classmethod
    def _valid_mix(cls, value: dict[float, float]) -> dict[float, float]:
        if not value or any(lev < 1 or w < 0 for lev, w in value.items()):
            raise ValueError("leverage_mix needs leverages >= 1 and weights >= 0")
        total = sum(value.values())
        if total <= 0:
            raise ValueError("leverage_mix weights must not all be zero")
        return {lev: w / total for lev, w in sorted(value.items())}

    @field_validator("liquidation_score_window", mode="before")
    @classmethod
    def _blank_window_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _score_window_is_built(self) -> Settings:
        window = self.liquidation_score_window
        if window is not None and window not in self.windows:
            raise ValueError("EXECSVC_LIQUIDATION_SCORE_WINDOW must be one of the built "
                             f"windows ({', '.join(self.windows)}; EXECSVC_WINDOWS)")
        return self

    @model_validator(mode="after")
    def _live_needs_live_data(self) -> Settings:
        if self.trading_mode == "live" and self.source != "ccxt":
            raise ValueError("TRADING_MODE=live needs SOURCE=ccxt: real orders must not be "
                             "risk-checked against replayed prices")
        return self

    @model_validator(mode="after")
    def _one_exchange_account_per_key(self) -> Settings:
        """Live mode never lets two API keys share one exchange account (each would see the
        other's positions): either one API key with EXCHANGE_API_KEY/SECRET, or LIVE_ACCOUNTS
        naming an account per key. Messages count keys, never show them."""
        if self.trading_mode != "live":
            return self
        if not self.live_accounts:
            if len(self.api_keys) > 1:
                raise ValueError(
                    f"live trading with {len(self.api_keys)} API keys needs an exchange account "
                    "per key: set EXECSVC_LIVE_ACCOUNTS (or keep one key in EXECSVC_API_KEYS)")
            return self
        by_key = [a.api_key.get_secret_value() for a in self.live_accounts]
        exchange_keys = [a.exchange_api_key.get_secret_value() for a in self.live_accounts]
        if len(set(by_key)) != len(by_key) or len(set(exchange_keys)) != len(exchange_keys):
            raise ValueError("each entry of EXECSVC_LIVE_ACCOUNTS needs its own API key and its "
                             "own exchange account")
        keys = {k.get_secret_value() for k in self.api_keys}
        if keys and keys != set(by_key):
            raise ValueError(
                f"{len(keys - set(by_key))} of the EXECSVC_API_KEYS have no entry in "
                f"EXECSVC_LIVE_ACCOUNTS and {len(set(by_key) - keys)} entries name no "
                "configured key; list the same keys in both (or leave EXECSVC_API_KEYS empty)")
        return self

    @property
    def service_keys(self) -> list[SecretStr]:
        """The keys accepted in X-API-Key: `api_keys`, or those of `live_accounts`."""
        return self.api_keys or [account.api_key for account in self.live_accounts]

    @cached_property
    def score_window(self) -> str:
        """The map window the online score reads: `LIQUIDATION_SCORE_WINDOW`, else 7d when
        built (the window `execsvc evaluate` measures), else the first window."""
        if self.liquidation_score_window is not None:
            return self.liquidation_score_window
        return "7d" if "7d" in self.windows else self.windows[0]

    @property
    def liquidations_live(self) -> bool:
        """Whether realised liquidations are ingested: only from a live exchange."""
        return self.liquidations and self.source == "ccxt"

    @cached_property
    def window_seconds(self) -> dict[str, int]:
        return {w: WINDOW_SECONDS[w] for w in self.windows}


def describe_settings_error(exc: ValidationError | SettingsError) -> str:
    """A settings error in one line per problem, naming the variable and never its value
    (pydantic's own text echoes the input, which may be a secret)."""
    if isinstance(exc, SettingsError):
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
        name = f"EXECSVC_{field.upper()}" if field else "a setting"
        return f"{name}: cannot be parsed (expected JSON for lists of objects)"
    lines = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        location = [str(part) for part in error.get("loc", ()) if part != "__root__"]
        message = error["msg"].removeprefix("Value error, ")
        if not location:  # a rule across settings: its message names them
            lines.append(message)
            continue
        where = "".join(f"[{part}]" for part in location[1:])
        lines.append(f"EXECSVC_{location[0].upper()}{where}: {message}")
    return "; ".join(lines)
