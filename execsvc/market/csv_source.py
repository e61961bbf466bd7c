"""`CsvSource`: a `MarketSource` over your own CSV files (`execsvc map SYMBOL --data DIR`).

Directory layout::

    DIR/candles.csv          required
    DIR/open_interest.csv    optional
    DIR/funding.csv          optional, read by `execsvc evaluate` only (see below)

Both files are UTF-8 (a byte-order mark is allowed), comma-separated, with a header line naming
the columns. Column names are exact and lower-case; the columns may come in any order; other
columns are refused. Blank lines are ignored. Rows are oldest first with strictly increasing
times.

`candles.csv`, one row per candle::

    open_time,open,high,low,close,volume[,taker_buy_volume]

- `open_time`: the candle's open time, UTC, either integer epoch milliseconds
  (`1704067200000`) or ISO-8601 (`2024-01-01T00:00:00Z`, `2024-01-01 00:00:00`; no offset
  means UTC, other offsets are converted to UTC). Integers below 10^11 are refused as
  probably epoch seconds.
- `open`, `high`, `low`, `close`: prices in the quote currency per base unit, > 0, with
  `low <= open, close <= high`.
- `volume`: traded quantity in base units (e.g. BTC, not USD), >= 0.
- `taker_buy_volume` (optional column; an empty cell means unknown): the taker-buy part of
  `volume`, base units, `0 <= taker_buy_volume <= volume`. Without it the model estimates the
  long share from the candle itself.

The candle interval is the smallest spacing between consecutive open times; every spacing must
be a whole multiple of it (missing candles are fine, uneven spacing is not). At least two
candles are needed.

`open_interest.csv`, one row per sample::

    time,oi_quote

- `time`: sample time, same formats as `open_time`.
- `oi_quote`: open interest as quote-currency notional (e.g. USD), >= 0.

`funding.csv`, one row per funding sample (read by the evaluation for the funding side split,
docs/evaluation.md; the map service has no funding input, so `CsvSource` ignores it)::

    time,funding_rate_per_h

- `time`: when the rate was paid (known), same formats as `open_time`.
- `funding_rate_per_h`: the funding rate as a fraction of notional per hour (positive: longs
  pay shorts); a venue paying every 8 h: its rate / 8. Any finite number.

Any bad row raises `MarketSourceError` naming the file, line and column, e.g.
`.../candles.csv, line 7, column 'high' (3): high 41990 is below low 42010`.

The source's clock (`now_ms`) is the close of the last candle (`last open_time + interval`), so
every candle counts as closed; open-interest samples after it are not served. Limitations:
there is no order book in CSV data (`order_book` raises `MarketSourceError`, so cascade and
slippage estimates are unavailable), and the maintenance brackets are Binance USD-M's table for
the symbol if it has one (`BTCUSDT`, `ETHUSDT`), else BTCUSDT's as a stand-in (logged).
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from execsvc.domain.book import OrderBook
from execsvc.domain.brackets import STAND_IN_TABLE, Bracket, bracket_table, has_bundled_table
from execsvc.domain.units import MarketPrecision
from execsvc.liqmap.candles import Candles
from execsvc.liqmap.funding import FundingRates
from execsvc.market.precision import inferred_precision
from execsvc.market.types import MarketSourceError, OpenInterest, SymbolInfo

log = logging.getLogger(__name__)

CANDLES_FILE = "candles.csv"
OPEN_INTEREST_FILE = "open_interest.csv"
FUNDING_FILE = "funding.csv"
CANDLE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
OPTIONAL_CANDLE_COLUMNS = ("taker_buy_volume",)
OI_COLUMNS = ("time", "oi_quote")
FUNDING_COLUMNS = ("time", "funding_rate_per_h")
MIN_EPOCH_MS = 10**11  # 1973-03-03 in ms; smaller integers are most likely epoch seconds

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INTEGER = re.compile(r"[0-9]+")


class CellError(ValueError):
    """A cell's value is unusable; the reader adds file, line and column."""


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV file's rows: `columns` maps a column name to its 0-based position, `rows` holds
    (line number, cells) pairs."""

    path: Path
    columns: dict[str, int]
    rows: list[tuple[int, list[str]]]

    def error(self, line: int, column: str, problem: str) -> MarketSourceError:
        """An error naming this file, `line` and `column` (name and 1-based position)."""
        position = self.columns[column] + 1
        return MarketSourceError(
            f"{self.path}, line {line}, column {column!r} ({position}): {problem}"
        )


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds from integer epoch ms or an ISO-8601 time (naive = UTC)."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        value = int(text)
        if value < MIN_EPOCH_MS:
            raise CellError(f"{text} looks like epoch seconds; use epoch milliseconds")
        return value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CellError(f"{text!r} is neither epoch milliseconds nor ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_number(text: str) -> float:
    """A finite float."""
    try:
        value = float(text)
    except ValueError:
        raise CellError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise CellError(f"{text.strip()!r} is not a finite number")
    return value


def parse_positive(text: str) -> float:
    """A finite float > 0 (prices)."""
    value = parse_number(text)
    if value <= 0:
        raise CellError(f"{value:g} must be > 0")
    return value


def parse_non_negative(text: str) -> float:
    """A finite float >= 0 (quantities, notionals)."""
    value = parse_number(text)
    if value < 0:
        raise CellError(f"{value:g} must be >= 0")
    return value


def parse_optional_quantity(text: str) -> float:
    """Like `parse_non_negative`, but an empty cell is NaN (unknown)."""
    return math.nan if not text.strip() else parse_non_negative(text)


def header_columns(
    path: Path, header: list[str], required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, int]:
    """Map column names to positions; refuse missing, unknown or repeated names."""
    names = [name.strip() for name in header]
    problems = []
    unknown = [n for n in names if n not in required + optional]
    missing = [n for n in required if n not in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if unknown:
        problems.append(f"unknown column(s) {unknown}")
    if missing:
        problems.append(f"missing column(s) {missing}")
    if repeated:
        problems.append(f"repeated column(s) {repeated}")
    if problems:
        expected = ",".join(required) + "".join(f"[,{n}]" for n in optional)
        raise MarketSourceError(
            f"{path}, line 1 (header): {'; '.join(problems)}; expected {expected}"
        )
    return {name: k for k, name in enumerate(names)}


def read_table(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> Table:
    """Read a CSV file with a header; every row must have as many cells as the header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise MarketSourceError(f"{path}: empty file, expected a header line")
            columns = header_columns(path, header, required, optional)
            rows = []
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(columns):
                    raise MarketSourceError(
                        f"{path}, line {reader.line_num}: {len(cells)} "
                        f"cells, the header has {len(columns)}"
                    )
                rows.append((reader.line_num, cells))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MarketSourceError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise MarketSourceError(f"{path}: no data rows after the header")
    return Table(path, columns, rows)


def parse_row(
    table: Table, line: int, cells: list[str], parsers: dict[str, Callable[[str], float]]
) -> dict[str, float]:
    """Parse the cells of one row with one parser per column present in the table."""
    values: dict[str, float] = {}
    for name, parse in parsers.items():
        if name not in table.columns:
            continue
        try:
            values[name] = parse(cells[table.columns[name]])
        except CellError as exc:
            raise table.error(line, name, str(exc)) from None
    return values


def candle_problem(row: dict[str, float]) -> tuple[str, str] | None:
    """The first inconsistency in a parsed candle as (column, message), or None."""
    high, low = row["high"], row["low"]
    if high < low:
        return "high", f"high {high:g} is below low {low:g}"
    for name in ("open", "close"):
        if not low <= row[name] <= high:
            return name, f"{name} {row[name]:g} is outside low..high {low:g}..{high:g}"
    taker = row.get("taker_buy_volume", math.nan)
    if taker > row["volume"]:
        return "taker_buy_volume", f"taker_buy_volume {taker:g} exceeds volume {row['volume']:g}"
    return None


def check_increasing(table: Table, column: str, line: int, previous: int | None, now: int) -> None:
    """Refuse a time not strictly after the previous row's."""
    if previous is not None and now <= previous:
        raise table.error(
            line,
            column,
            f"time {now} ms is not after the previous row's "
            f"{previous} ms (times must strictly increase)",
        )


CANDLE_PARSERS: dict[str, Callable[[str], float]] = {
    "open_time": parse_time_ms,
    "open": parse_positive,
    "high": parse_positive,
    "low": parse_positive,
    "close": parse_positive,
    "volume": parse_non_negative,
    "taker_buy_volume": parse_optional_quantity,
}


def infer_interval(table: Table, lines: list[int], open_time_ms: np.ndarray) -> int:
    """The candle interval (ms): the smallest spacing; refuse spacings not a multiple of it."""
    if len(open_time_ms) < 2:
        raise MarketSourceError(
            f"{table.path}: at least 2 candles are needed to infer the interval"
        )
    spacing = np.diff(open_time_ms)
    interval = int(spacing.min())
    uneven = np.flatnonzero(spacing % interval)
    if uneven.size:
        k = int(uneven[0])
        raise table.error(
            lines[k + 1],
            "open_time",
            f"spacing {int(spacing[k])} ms is not a multiple of the candle "
            f"interval {interval} ms (the smallest spacing)",
        )
    return interval


def load_candles(path: Path) -> Candles:
    """Parse and validate `candles.csv` (format in the module docstring)."""
    table = read_table(path, CANDLE_COLUMNS, OPTIONAL_CANDLE_COLUMNS)
    columns: dict[str, list[float]] = {name: [] for name in CANDLE_PARSERS}
    lines: list[int] = []
    previous: int | None = None
    for line, cells in table.rows:
        row = parse_row(table, line, cells, CANDLE_PARSERS)
        problem = candle_problem(row)
        if problem:
            raise table.error(line, *problem)
        check_increasing(table, "open_time", line, previous, int(row["open_time"]))
        previous = int(row["open_time"])
        lines.append(line)
        for name in CANDLE_PARSERS:
            columns[name].append(row.get(name, math.nan))
    open_time = np.array([int(t) for t in columns.pop("open_time")], dtype=np.int64)
    interval = infer_interval(table, lines, open_time)
    arrays = {name: np.array(values, dtype=np.float64) for name, values in columns.items()}
    return Candles(open_time_ms=open_time, interval_ms=interval, **arrays)


def load_time_series(
    path: Path, columns: tuple[str, str], parse: Callable[[str], float]
) -> tuple[np.ndarray, np.ndarray]:
    """(times ms, values) of a two-column `time,<value>` file, times strictly increasing."""
    table = read_table(path, columns)
    parsers: dict[str, Callable[[str], float]] = {"time": parse_time_ms, columns[1]: parse}
    times: list[int] = []
    values: list[float] = []
    for line, cells in table.rows:
        row = parse_row(table, line, cells, parsers)
        check_increasing(table, "time", line, times[-1] if times else None, int(row["time"]))
        times.append(int(row["time"]))
        values.append(row[columns[1]])
    return np.array(times, dtype=np.int64), np.array(values, dtype=np.float64)


def load_open_interest(path: Path) -> OpenInterest:
    """Parse and validate `open_interest.csv` (format in the module docstring)."""
    return OpenInterest(*load_time_series(path, OI_COLUMNS, parse_non_negative))


def load_funding(path: Path) -> FundingRates:
    """Parse and validate `funding.csv` (format in the module docstring)."""
    return FundingRates(*load_time_series(path, FUNDING_COLUMNS, parse_number))


class CsvSource:
    """`MarketSource` for one symbol from a directory of CSV files (module docstring: format).

    `symbol` defaults to the directory name upper-cased; `exchange` and `quote_currency` label
    the data. Files are read and validated at construction, so a bad file fails at once.
    """

    name = "csv"

    def __init__(
        self,
        directory: Path,
        symbol: str | None = None,
        exchange: str = "csv",
        quote_currency: str = "USD",
    ) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise MarketSourceError(f"{self.directory}: not a directory")
        self.symbol = (symbol or self.directory.resolve().name).upper()
        self._candles = load_candles(self.directory / CANDLES_FILE)
        oi_path = self.directory / OPEN_INTEREST_FILE
        self._open_interest = load_open_interest(oi_path) if oi_path.exists() else None
        self._info = SymbolInfo(
            self.symbol, exchange, quote_currency, self._open_interest is not None
        )
        candles = self._candles
        self._precision = inferred_precision(
            np.concatenate([candles.open, candles.high, candles.low, candles.close]))
        if not has_bundled_table(self.symbol):
            log.warning(
                "no maintenance bracket table for %s; using %s's as a stand-in",
                self.symbol,
                STAND_IN_TABLE,
            )

    @property
    def clock_ms(self) -> int:
        """Close time (epoch ms) of the last candle: this source's `now`."""
        return int(self._candles.open_time_ms[-1]) + self._candles.interval_ms

    def _check(self, symbol: str) -> None:
        if symbol.upper() != self.symbol:
            raise MarketSourceError(
                f"unknown symbol {symbol!r}; {self.directory} holds {self.symbol}"
            )

    def symbols(self) -> list[SymbolInfo]:
        return [self._info]

    async def candles(self, symbol: str, since_ms: int) -> Candles:
        """All candles with open time at or after `since_ms` (every one is closed)."""
        self._check(symbol)
        return self._candles.since(since_ms)

    async def open_interest(self, symbol: str, since_ms: int) -> OpenInterest | None:
        """Samples in `[since_ms, clock_ms]` (quote notional); None without the file."""
        self._check(symbol)
        oi = self._open_interest
        if oi is None:
            return None
        first = int(np.searchsorted(oi.time_ms, since_ms, side="left"))
        stop = max(first, int(np.searchsorted(oi.time_ms, self.clock_ms, side="right")))
        return OpenInterest(oi.time_ms[first:stop], oi.oi_quote[first:stop])

    async def order_book(self, symbol: str, depth: int) -> OrderBook:
        """Always fails: CSV data carries no order book (a real limitation of this source)."""
        self._check(symbol)
        raise MarketSourceError("no order book in CSV data")

    async def leverage_brackets(self, symbol: str) -> list[Bracket]:
        """Binance USD-M brackets of the symbol, or BTCUSDT's when it has none."""
        self._check(symbol)
        return bracket_table(self.symbol)

    async def mark_price(self, symbol: str) -> float:
        """Close of the last candle (quote per base)."""
        self._check(symbol)
        return float(self._candles.close[-1])

    async def precision(self, symbol: str) -> MarketPrecision:
        """Tick inferred from the candles' prices, lot assumed (`market.precision`)."""
        self._check(symbol)
        return self._precision

    async def now_ms(self, symbol: str) -> int:
        """The last candle's close time (epoch ms)."""
        self._check(symbol)
        return self.clock_ms

    async def close(self) -> None:
        """Nothing to release: the data is in memory."""
