"""The symbol map across venues: one service key (`BTCUSDT`) <-> each venue's ccxt unified
symbol (`BTC/USDT:USDT` on Binance USD-M, `BTC/USDC:USDC` on Hyperliquid).

A service key is a base asset followed by a quote currency (`BTCUSDT`: base `BTC`, quote
`USDT`; the quote is the longest of `SERVICE_QUOTES` the key ends with). The default unified
symbol of a key on a venue is the venue's linear perpetual of that base:

- venues whose perpetuals are margined and settled in the venue's own stablecoin
  (`SETTLE_CURRENCY`: Hyperliquid and Lighter settle in USDC) get `BASE/SETTLE:SETTLE`
  whatever the key's quote: `BTCUSDT` is `BTC/USDC:USDC` on Hyperliquid;
- every other venue (Binance USD-M, Bybit, OKX, ...) gets the key's own quote as quote and
  settle currency, `BASE/QUOTE:QUOTE`: `BTCUSDT` is `BTC/USDT:USDT`.

`EXECSVC_VENUE_SYMBOLS` overrides any pair (a venue listing a base under another name, e.g.
Hyperliquid's `kPEPE`). A key with no recognised quote (the FTX recording's `BTC-PERP`) has no
default on any venue: only an override maps it. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

SERVICE_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")
"""Quote currencies a service key may end with (longest match wins)."""

SETTLE_CURRENCY = {"hyperliquid": "USDC", "lighter": "USDC"}
"""Venues whose linear perpetuals all settle in one currency, whatever the key's quote."""


def split_key(key: str) -> tuple[str, str] | None:
    """`(base, quote)` of a service key (`BTCUSDT` -> `("BTC", "USDT")`), or None when the key
    ends in no known quote or has no base before it."""
    upper = key.upper()
    for quote in sorted(SERVICE_QUOTES, key=len, reverse=True):
        if upper.endswith(quote) and len(upper) > len(quote):
            base = upper[: -len(quote)]
            if base.isalnum():
                return base, quote
    return None


def default_venue_symbol(venue: str, key: str) -> str | None:
    """The documented default ccxt unified symbol of `key` on `venue` (module docstring)."""
    parts = split_key(key)
    if parts is None:
        return None
    base, quote = parts
    settle = SETTLE_CURRENCY.get(venue, quote)
    return f"{base}/{settle}:{settle}"


def venue_symbol(
    venue: str, key: str, overrides: Mapping[str, Mapping[str, str]] | None = None
) -> str | None:
    """The ccxt unified symbol of service key `key` on `venue`: the override of
    `EXECSVC_VENUE_SYMBOLS` when given, else the default; None when neither exists."""
    override = (overrides or {}).get(key.upper(), {}).get(venue)
    return override if override else default_venue_symbol(venue, key)


def venue_symbol_map(
    venue: str, keys: list[str], overrides: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, str]:
    """Service key -> ccxt unified symbol on `venue`, for the keys that have one (in order)."""
    mapped = {key: venue_symbol(venue, key, overrides) for key in keys}
    return {key: unified for key, unified in mapped.items() if unified is not None}
