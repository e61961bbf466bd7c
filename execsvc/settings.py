"""Service settings: environment variables with the prefix `EXECSVC_`, or a `.env` file.

`.env.example` lists every setting with its default and meaning.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WINDOW_SECONDS = {"1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXECSVC_", env_file=".env", extra="ignore", frozen=True
    )

    redis_url: SecretStr | None = None
    data_dir: str | None = "~/.local/share/execsvc"
    source: Literal["replay", "ccxt"] = "replay"
    exchange: str = "binanceusdm"
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
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None
    liquidations: bool = True
    liquidation_retention_h: float = Field(168.0, gt=0, le=24 * 90)
    liquidation_max_per_symbol: int = Field(100_000, ge=100, le=10_000_000)
    liquidation_score_window: str | None = None
    liquidation_score_hours: int = Field(24, ge=1, le=24 * 30)
    liquidation_heartbeat_s: float = Field(5.0, gt=0, le=60)
    policies_dir: str = "policies/"
    policy_file: str = "default.toml"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: str = "INFO"

    @field_validator("redis_url", "data_dir", "exchange_api_key", "exchange_secret",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("symbols", "windows", mode="before")
    @classmethod
    def _csv_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _csv_keys(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("symbols")
    @classmethod
    def _symbols_present(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is required")
        return [symbol.upper() for symbol in value]

    @field_validator("windows")
    @classmethod
    def _known_windows(cls, value: list[str]) -> list[str]:
        unknown = [w for w in value if w not in WINDOW_SECONDS]
        if unknown or not value:
            raise ValueError(f"windows must be among {sorted(WINDOW_SECONDS)}, got {value}")
        return value

    @field_validator("leverage_mix", mode="before")
    @classmethod
    def _parse_mix(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        mix: dict[float, float] = {}
        for part in value.split(","):
            leverage, _, weight = part.partition(":")
            mix[float(leverage)] = float(weight)
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
            raise ValueError(f"liquidation_score_window {window!r} must be one of the built "
                             f"windows {self.windows}")
        return self

    @model_validator(mode="after")
    def _live_needs_live_data(self) -> Settings:
        if self.trading_mode == "live" and self.source != "ccxt":
            raise ValueError("TRADING_MODE=live needs SOURCE=ccxt: real orders must not be "
                             "risk-checked against replayed prices")
        return self

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
