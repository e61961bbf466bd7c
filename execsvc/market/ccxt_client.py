"""The async ccxt client the ccxt adapters build on: `CcxtSource` (market data), the live
order router (`execsvc.venues.live_router`) and, as a websocket client, the liquidation feed.
One place for the client's configuration (rate limit, timeout, linear swap markets, keys), the
redaction of keys from ccxt's debug log, the retry policy for network errors, and the guard
that keeps a malformed websocket frame from stopping ccxt's receive loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from execsvc.market.types import MarketSourceError

BINANCE_FAMILY = frozenset({"binance", "binanceusdm"})
BINANCE_FAPI_ORIGIN = "https://fapi.binance.com"
VENUE_MARKET_OPTIONS: dict[str, dict[str, Any]] = {
    "bybit": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False},
    "okx": {"fetchMarkets": {"types": ["swap"]}, "fetchCurrencies": False},
    "hyperliquid": {"fetchMarkets": {"types": ["swap"]}},
}
"""ccxt options that load only the linear perpetuals of a venue (and no currency list)."""


class _RedactingLogger(logging.LoggerAdapter):
    """Formats each message and replaces the given secrets with `***` before logging it.

    ccxt logs every request's headers at DEBUG, and Binance's include `X-MBX-APIKEY`."""

    def __init__(self, logger: logging.Logger, secrets: Sequence[str]) -> None:
        super().__init__(logger, {})
        self._secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, self.redact(text), **kwargs)


def network_retrying(
    attempts: int,
    wait_s: float,
    max_wait_s: float,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """A tenacity policy retrying `ccxt.NetworkError` only: `attempts` tries in all, waiting
    `wait_s * 2**k` seconds (at most `max_wait_s`) in between; the last error is re-raised."""
    return AsyncRetrying(
        retry=retry_if_exception_type(ccxt.NetworkError),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=wait_s, max=max_wait_s),
        before_sleep=before_sleep,
        reraise=True,
    )


def redacting_logger(
    logger: logging.Logger, secrets: Sequence[SecretStr | None]
) -> _RedactingLogger:
    """A logger adapter that replaces the values of `secrets` with `***` in every message; its
    `redact(text)` does the same for any text (exception messages)."""
    return _RedactingLogger(logger, [s.get_secret_value() for s in secrets if s is not None])


def build_exchange_client(
    exchange_id: str,
    *,
    timeout_ms: int,
    api_key: SecretStr | None,
    secret: SecretStr | None,
    logger: logging.LoggerAdapter,
    base_url: str | None = None,
    urls_override: Mapping[str, str] | None = None,
) -> ccxt_async.Exchange:
    """An async ccxt client configured like `CcxtSource`'s (rate limit, timeout, linear swap
    markets, keys, `logger` for ccxt's own debug log) with Binance USD-M endpoints moved to
    `base_url` and `urls_override` applied. Raises `MarketSourceError` for an unknown id."""
    exchange = _build_exchange(exchange_id, timeout_ms, api_key, secret, logger)
    _override_urls(exchange, base_url, urls_override)
    return exchange


def _exchange_options(exchange_id: str) -> dict[str, Any]:
    """ccxt options: linear perpetuals only; for Binance, load linear markets only and skip the
    signed (and here useless) currency fetch that keys would otherwise trigger."""
    if exchange_id in BINANCE_FAMILY:
        return {
            "defaultType": "swap",
            "defaultSubType": "linear",
            "fetchMarkets": {"types": ["linear"]},
            "fetchCurrencies": False,
        }
    return {"defaultType": "swap", **VENUE_MARKET_OPTIONS.get(exchange_id, {})}


def _build_exchange(
    exchange_id: str,
    timeout_ms: int,
    api_key: SecretStr | None,
    secret: SecretStr | None,
    logger: logging.LoggerAdapter,
) -> ccxt_async.Exchange:
    exchange_class = getattr(ccxt_async, exchange_id, None)
    if exchange_class is None or exchange_id not in ccxt_async.exchanges:
        raise MarketSourceError(f"ccxt has no exchange {exchange_id!r}")
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": _exchange_options(exchange_id),
    }
    if api_key is not None and secret is not None:
        config["apiKey"] = api_key.get_secret_value()
        config["secret"] = secret.get_secret_value()
    exchange = exchange_class(config)
    exchange.logger = logger
    return exchange


def _override_urls(
    exchange: ccxt_async.Exchange, base_url: str | None, urls_override: Mapping[str, str] | None
) -> None:
    """Point Binance USD-M endpoints (other venues: every REST endpoint, keeping its path)
    at `base_url` and apply `urls_override` entries."""
    api = dict(exchange.urls.get("api") or {})
    if base_url and exchange.id in BINANCE_FAMILY:
        origin = base_url.rstrip("/")
        for name, url in api.items():
            if isinstance(url, str) and url.startswith(BINANCE_FAPI_ORIGIN):
                api[name] = origin + url[len(BINANCE_FAPI_ORIGIN):]
    elif base_url:
        api = _with_origin(api, base_url.rstrip("/"))
    api.update(urls_override or {})
    exchange.urls = {**exchange.urls, "api": api}


class _GuardedMessages:
    """Mixed into a ccxt.pro exchange class: a frame that fails to decode or to parse is
    reported to `on_malformed(kind, detail)` and skipped instead of ending the receive loop."""

    on_malformed: Callable[[str, str], None] = staticmethod(lambda kind, detail: None)

    def client(self, url: str) -> Any:
        client = super().client(url)  # type: ignore[misc]
        if not getattr(client, "_execsvc_guarded", False):
            decode = client.handle_text_or_binary_message

            def guarded(data: Any, decode: Callable[[Any], None] = decode) -> None:
                try:
                    decode(data)
                except Exception as exc:
                    self.on_malformed("undecodable frame", f"{exc}: {str(data)[:120]}")

            client.handle_text_or_binary_message = guarded
            client._execsvc_guarded = True
        return client

    def handle_message(self, client: Any, message: Any) -> None:
        try:
            super().handle_message(client, message)  # type: ignore[misc]
        except Exception as exc:
            self.on_malformed("unparseable message", f"{type(exc).__name__}: {exc}: "
                              f"{str(message)[:120]}")


def build_ws_client(
    exchange_id: str, *, timeout_ms: int, rest_origin: str | None = None,
    urls_override: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
) -> Any:
    """A ccxt.pro (websocket) client for linear perpetuals (linear markets only, no currency
    fetch), guarded so a malformed frame is reported to its `on_malformed(kind, detail)` and
    skipped instead of stopping ccxt's receive loop. `rest_origin` replaces the scheme and
    host of every REST URL; `urls_override` is merged (recursively) into `urls['api']` (tests
    point both at local servers); `options` are added to ccxt's."""
    base = getattr(ccxt_pro, exchange_id, None)
    if base is None:
        raise MarketSourceError(f"ccxt has no websocket client for {exchange_id!r}")
    guarded = type(f"Guarded{base.__name__}", (_GuardedMessages, base), {})
    exchange = guarded({
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": {**_exchange_options(exchange_id), "defaultSubType": "linear",
                    "fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False,
                    **(options or {})},
    })
    api = exchange.urls["api"]
    if rest_origin:
        api = _with_origin(api, rest_origin.rstrip("/"))
    exchange.urls = {**exchange.urls, "api": _merged(api, urls_override or {})}
    return exchange


def _with_origin(value: Any, origin: str) -> Any:
    if isinstance(value, dict):
        return {k: _with_origin(v, origin) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("https://"):
        rest = value[len("https://"):]
        path = rest[rest.index("/"):] if "/" in rest else ""
        return origin + path
    return value


def _merged(base: Any, override: Mapping[str, Any]) -> Any:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
