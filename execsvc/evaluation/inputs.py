"""Reading the evaluation's inputs: the truth file and the market directory.

Truth file (CSV, UTF-8, header exactly `date,coin,long_usd,short_usd,total_usd,liq_count`):
one row per (UTC day, coin); `date` is `YYYY-MM-DD`; `coin` the name of a directory in the
market data (e.g. `BTC`); `long_usd` / `short_usd` the quote notional of long / short
positions liquidated that day (>= 0); `total_usd` and `liq_count` are read, checked to be
numbers >= 0; `liq_count` is used only by the sensitivity check (`scores.near_zero_rows`). A
(date, coin) pair may appear once.

Market directory: one sub-directory per coin holding `candles.csv`, `open_interest.csv` and
optionally `funding.csv` in the format of `execsvc map --data` (`execsvc.market.csv_source`).
Open interest is required; funding is read by the funding side split only. Several venues'
data: one sub-directory per venue (named by its id, e.g. `hyperliquid`), each laid out so
(`load_venue_markets`).

Any problem is an `EvaluationInputError` naming the file and, for a row, the line and column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from execsvc.liqmap.candles import Candles
from execsvc.liqmap.funding import FundingRates
from execsvc.market.csv_source import (
    CANDLES_FILE,
    FUNDING_FILE,
    OPEN_INTEREST_FILE,
    CellError,
    load_candles,
    load_funding,
    load_open_interest,
    parse_non_negative,
    read_table,
)
from execsvc.market.types import MarketSourceError, OpenInterest

TRUTH_COLUMNS = ("date", "coin", "long_usd", "short_usd", "total_usd", "liq_count")
DAY_MS = 86_400_000


class EvaluationInputError(ValueError):
    """An input file or row the evaluation cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class TruthDay:
    """Realised liquidations of one coin on one UTC day (quote notional)."""

    date: dt.date
    coin: str
    long_quote: float
    short_quote: float
    line: int
    liq_count: float = 0.0

    @property
    def start_ms(self) -> int:
        """00:00 UTC of the day, epoch ms."""
        return int(dt.datetime(self.date.year, self.date.month, self.date.day,
                               tzinfo=dt.UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class CoinMarket:
    """One coin's candles and open interest, as read from its directory."""

    coin: str
    candles: Candles
    open_interest: OpenInterest
    directory: Path
    funding: FundingRates | None = None


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CellError(f"{text.strip()!r} is not a date (YYYY-MM-DD)") from None


def _parse_coin(text: str) -> str:
    coin = text.strip().upper()
    if not coin or not coin.replace("-", "").replace("_", "").isalnum():
        raise CellError(f"{text.strip()!r} is not a coin name")
    return coin


def load_truth(path: Path) -> list[TruthDay]:
    """Parse and check a truth file (format in the module docstring)."""
    if not path.is_file():
        raise EvaluationInputError(f"{path}: truth file not found")
    try:
        table = read_table(path, TRUTH_COLUMNS)
    except MarketSourceError as exc:
        raise EvaluationInputError(str(exc)) from None
    days: list[TruthDay] = []
    seen: dict[tuple[dt.date, str], int] = {}
    for line, cells in table.rows:
        values: dict[str, object] = {}
        for name, parse in (("date", _parse_date), ("coin", _parse_coin),
                            ("long_usd", parse_non_negative), ("short_usd", parse_non_negative),
                            ("total_usd", parse_non_negative), ("liq_count", parse_non_negative)):
            try:
                values[name] = parse(cells[table.columns[name]])
            except CellError as exc:
                raise EvaluationInputError(str(table.error(line, name, str(exc)))) from None
        key = (values["date"], values["coin"])
        if key in seen:
            raise EvaluationInputError(str(table.error(
                line, "date", f"{key[1]} {key[0]} already given on line {seen[key]}")))
        seen[key] = line
        days.append(TruthDay(values["date"], values["coin"], values["long_usd"],
                             values["short_usd"], line, values["liq_count"]))
    return sorted(days, key=lambda d: (d.coin, d.date))


def load_market(directory: Path) -> CoinMarket:
    """Candles, open interest and funding (if any) of the coin stored in `directory` (named
    after the coin)."""
    oi_path = directory / OPEN_INTEREST_FILE
    funding_path = directory / FUNDING_FILE
    if not (directory / CANDLES_FILE).is_file():
        raise EvaluationInputError(f"{directory / CANDLES_FILE}: file not found")
    if not oi_path.is_file():
        raise EvaluationInputError(f"{oi_path}: file not found (the evaluation needs open "
                                   "interest)")
    try:
        candles = load_candles(directory / CANDLES_FILE)
        open_interest = load_open_interest(oi_path)
        funding = load_funding(funding_path) if funding_path.is_file() else None
    except MarketSourceError as exc:
        raise EvaluationInputError(str(exc)) from None
    return CoinMarket(directory.name.upper(), candles, open_interest, directory, funding)


def load_markets(data_dir: Path, coins: set[str]) -> dict[str, CoinMarket]:
    """The markets of `coins` from `data_dir/<COIN>/`; a coin without a directory is an error."""
    if not data_dir.is_dir():
        raise EvaluationInputError(f"{data_dir}: market data directory not found")
    available = {p.name.upper(): p for p in data_dir.iterdir() if p.is_dir()}
    missing = sorted(coins - set(available))
    if missing:
        raise EvaluationInputError(
            f"{data_dir}: no market data for coin(s) {', '.join(missing)} named in the truth "
            f"file; directories found: {', '.join(sorted(available)) or 'none'}")
    return {coin: load_market(available[coin]) for coin in sorted(coins)}


def is_venue_layout(data_dir: Path) -> bool:
    """Whether `data_dir` holds venues (`<venue>/<COIN>/candles.csv`) rather than coins."""
    return any((venue / coin / CANDLES_FILE).is_file()
               for venue in data_dir.iterdir() if venue.is_dir()
               for coin in venue.iterdir() if coin.is_dir())


def load_venue_markets(data_dir: Path, coins: set[str], single_venue: str
                       ) -> dict[str, dict[str, CoinMarket]]:
    """Venue -> coin -> market: a directory of coins is the one venue `single_venue`; a
    directory of venues gives each venue's coins among `coins` (every coin must be on some
    venue), venues in name order."""
    if not data_dir.is_dir():
        raise EvaluationInputError(f"{data_dir}: market data directory not found")
    if not is_venue_layout(data_dir):
        return {single_venue: load_markets(data_dir, coins)}
    found: dict[str, dict[str, CoinMarket]] = {}
    for venue in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        have = {p.name.upper() for p in venue.iterdir() if p.is_dir()} & coins
        if have:
            found[venue.name] = load_markets(venue, have)
    missing = sorted(coins - {c for markets in found.values() for c in markets})
    if missing:
        raise EvaluationInputError(f"{data_dir}: no venue has market data for coin(s) "
                                   f"{', '.join(missing)} named in the truth file")
    return found


def day_candles(candles: Candles, start_ms: int) -> Candles | None:
    """The candles of the UTC day starting at `start_ms`, or None when they do not cover the
    whole day."""
    first = int(np.searchsorted(candles.open_time_ms, start_ms, side="left"))
    stop = int(np.searchsorted(candles.open_time_ms, start_ms + DAY_MS, side="left"))
    expected = DAY_MS // candles.interval_ms
    if stop - first != expected or candles.open_time_ms[first] != start_ms:
        return None
    return candles.slice(first, stop)


def day_range(candles: Candles, start_ms: int) -> tuple[float, float, float] | None:
    """(open, high, low) of the UTC day starting at `start_ms` from its candles, or None when
    the candles do not cover the whole day."""
    day = day_candles(candles, start_ms)
    if day is None:
        return None
    return float(day.open[0]), float(day.high.max()), float(day.low.min())
