"""`CsvSource`: the documented CSV format, round trips, and errors that point at the cell."""

from __future__ import annotations

import asyncio
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execsvc.domain.brackets import BINANCE_USDM_BRACKETS
from execsvc.market.csv_source import CsvSource
from execsvc.market.types import MarketSource, MarketSourceError

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR_MS = 3_600_000

CANDLES = """open_time,open,high,low,close,volume,taker_buy_volume
1704067200000,42000,42100,41900,42050,10.5,6.0
1704070800000,42050,42300,42000,42250,12.0,
1704074400000,42250,42260,41800,41850,20.25,5.5
"""
OPEN_INTEREST = """time,oi_quote
1704063600000,1.0e9
1704067200000,1.1e9
1704078000000,1.2e9
1704081600000,1.3e9
"""


def write(directory: Path, candles: str, open_interest: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "candles.csv").write_text(candles, encoding="utf-8")
    if open_interest is not None:
        (directory / "open_interest.csv").write_text(open_interest, encoding="utf-8")
    return directory


async def test_round_trip_with_open_interest(tmp_path: Path) -> None:
    source = CsvSource(write(tmp_path / "btcusdt", CANDLES, OPEN_INTEREST))
    assert isinstance(source, MarketSource)
    [info] = source.symbols()
    assert (info.symbol, info.exchange, info.quote_currency) == ("BTCUSDT", "csv", "USD")
    assert info.has_open_interest
    candles = await source.candles("BTCUSDT", 0)
    assert candles.interval_ms == HOUR_MS
    assert candles.open_time_ms.tolist() == [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS]
    assert candles.open.tolist() == [42000, 42050, 42250]
    assert candles.high.tolist() == [42100, 42300, 42260]
    assert candles.low.tolist() == [41900, 42000, 41800]
    assert candles.close.tolist() == [42050, 42250, 41850]
    assert candles.volume.tolist() == [10.5, 12.0, 20.25]
    assert candles.taker_buy_volume[0] == 6.0 and math.isnan(candles.taker_buy_volume[1])
    assert await source.now_ms("btcusdt") == T0 + 3 * HOUR_MS
    assert await source.mark_price("BTCUSDT") == 41850
    assert len(await source.candles("BTCUSDT", T0 + 1)) == 2
    oi = await source.open_interest("BTCUSDT", T0)
    assert oi is not None
    assert oi.time_ms.tolist() == [T0, T0 + 3 * HOUR_MS]  # the sample after now is not served
    assert oi.oi_quote.tolist() == [1.1e9, 1.2e9]
    assert await source.leverage_brackets("BTCUSDT") == BINANCE_USDM_BRACKETS["BTCUSDT"]
    with pytest.raises(MarketSourceError, match="no order book in CSV data"):
        await source.order_book("BTCUSDT", 10)
    await source.close()


async def test_without_taker_column_or_open_interest(tmp_path: Path) -> None:
    text = (
        "volume,open_time,close,low,high,open\n5,1704067200000,2,1,3,2\n6,1704067260000,2,1,2,1\n"
    )
    source = CsvSource(
        write(tmp_path / "data", text), symbol="ETHUSDT", exchange="mine", quote_currency="USDT"
    )
    [info] = source.symbols()
    assert (info.symbol, info.exchange, info.quote_currency) == ("ETHUSDT", "mine", "USDT")
    assert not info.has_open_interest
    assert await source.open_interest("ETHUSDT", 0) is None
    candles = await source.candles("ETHUSDT", 0)
    assert candles.interval_ms == 60_000 and np.isnan(candles.taker_buy_volume).all()
    assert candles.volume.tolist() == [5, 6] and candles.high.tolist() == [3, 2]
    assert await source.leverage_brackets("ETHUSDT") == BINANCE_USDM_BRACKETS["ETHUSDT"]


async def test_unknown_symbol_and_bracket_stand_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = CsvSource(write(tmp_path / "solusdt", CANDLES))
    assert "BTCUSDT" in caplog.text and "SOLUSDT" in caplog.text
    assert await source.leverage_brackets("SOLUSDT") == BINANCE_USDM_BRACKETS["BTCUSDT"]
    with pytest.raises(MarketSourceError, match="XRPUSDT"):
        await source.candles("XRPUSDT", 0)


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T03:00:00Z"],
        ["2024-01-01 00:00:00", "2024-01-01 01:00:00", "2024-01-01 03:00:00.000"],
        ["2024-01-01T01:00:00+01:00", "2024-01-01T01:00:00+00:00", "2024-01-01T03:00"],
        ["1704067200000", "2024-01-01T01:00:00Z", "1704078000000"],
    ],
)
async def test_iso_and_millisecond_times(tmp_path: Path, stamps: list[str]) -> None:
    rows = "".join(f"{t},10,11,9,10,1\n" for t in stamps)
    source = CsvSource(write(tmp_path / "x", "open_time,open,high,low,close,volume\n" + rows))
    candles = await source.candles("X", 0)
    assert candles.open_time_ms.tolist() == [T0, T0 + HOUR_MS, T0 + 3 * HOUR_MS]
    assert candles.interval_ms == HOUR_MS  # a missing candle is allowed
    assert await source.now_ms("X") == T0 + 4 * HOUR_MS


async def test_bom_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    directory = tmp_path / "x"
    directory.mkdir()
    text = (
        "\ufeffopen_time,open,high,low,close,volume\n\n1704067200000,1,1,1,1,0\n\n"
        "1704067260000,1,1,1,1,0\n"
    )
    (directory / "candles.csv").write_text(text, encoding="utf-8")
    assert len(await CsvSource(directory).candles("X", 0)) == 2


HEADER = "open_time,open,high,low,close,volume,taker_buy_volume\n"
GOOD = "1704067200000,100,110,90,105,5,1\n"
NEXT = "1704067260000,105,106,104,105,5,1\n"


@pytest.mark.parametrize(
    "body, line, column, position, fragment",
    [
        (GOOD + "1704067260000,abc,106,104,105,5,1\n", 3, "open", 2, "not a number"),
        (GOOD + "1704067260000,105,100,104,101,5,1\n", 3, "high", 3, "below low"),
        (GOOD + "1704067260000,107,106,104,105,5,1\n", 3, "open", 2, "outside low..high"),
        (GOOD + "1704067260000,105,106,104,103,5,1\n", 3, "close", 5, "outside low..high"),
        (GOOD + "1704067200000,105,106,104,105,5,1\n", 3, "open_time", 1, "strictly increase"),
        (NEXT + GOOD, 3, "open_time", 1, "not after the previous"),
        (GOOD + "1704067260000,105,106,104,105,-5,\n", 3, "volume", 6, ">= 0"),
        (GOOD + "1704067260000,105,106,104,105,5,6\n", 3, "taker_buy_volume", 7, "exceeds"),
        (GOOD + "1704067260000,105,106,0,105,5,1\n", 3, "low", 4, "> 0"),
        (GOOD + "1704067260000,105,106,104,nan,5,1\n", 3, "close", 5, "finite"),
        (GOOD + "1704067260,105,106,104,105,5,1\n", 3, "open_time", 1, "epoch seconds"),
        (GOOD + "yesterday,105,106,104,105,5,1\n", 3, "open_time", 1, "ISO-8601"),
        (GOOD + NEXT + "1704067350000,105,106,104,105,5,1\n", 4, "open_time", 1, "multiple"),
    ],
)
def test_candle_errors_name_file_line_and_column(
    tmp_path: Path, body: str, line: int, column: str, position: int, fragment: str
) -> None:
    directory = write(tmp_path / "x", HEADER + body)
    with pytest.raises(MarketSourceError) as excinfo:
        CsvSource(directory)
    message = str(excinfo.value)
    assert str(directory / "candles.csv") in message
    assert f"line {line}, column {column!r} ({position})" in message
    assert fragment in message


@pytest.mark.parametrize(
    "body, line, column, position, fragment",
    [
        ("1704067200000,lots\n", 2, "oi_quote", 2, "not a number"),
        ("1704067200000,-1\n", 2, "oi_quote", 2, ">= 0"),
        ("1704067200000,1\n1704067200000,2\n", 3, "time", 1, "strictly increase"),
        ("2024-13-01,1\n", 2, "time", 1, "ISO-8601"),
    ],
)
def test_open_interest_errors_name_file_line_and_column(
    tmp_path: Path, body: str, line: int, column: str, position: int, fragment: str
) -> None:
    directory = write(tmp_path / "x", CANDLES, "time,oi_quote\n" + body)
    with pytest.raises(MarketSourceError) as excinfo:
        CsvSource(directory)
    message = str(excinfo.value)
    assert str(directory / "open_interest.csv") in message
    assert f"line {line}, column {column!r} ({position})" in message
    assert fragment in message


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty file"),
        ("open_time,open,high,low,close\n1704067200000,1,1,1,1\n", "missing column(s) ['volume']"),
        (HEADER.strip() + ",extra\n", "unknown column(s) ['extra']"),
        ("open_time,open,high,low,close,volume,open\n", "repeated column(s) ['open']"),
        (HEADER, "no data rows"),
        (HEADER + GOOD, "at least 2 candles"),
        (HEADER + GOOD + "1704067260000,105,106\n", "line 3: 3 cells, the header has 7"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, fragment: str) -> None:
    directory = write(tmp_path / "x", text)
    with pytest.raises(MarketSourceError) as excinfo:
        CsvSource(directory)
    assert str(directory / "candles.csv") in str(excinfo.value)
    assert fragment in str(excinfo.value)


def test_header_errors_point_at_line_1(tmp_path: Path) -> None:
    with pytest.raises(MarketSourceError, match=r"line 1 \(header\).*expected open_time,open"):
        CsvSource(write(tmp_path / "x", "time,open,high,low,close,volume\n"))


def test_missing_directory_or_file(tmp_path: Path) -> None:
    with pytest.raises(MarketSourceError, match="not a directory"):
        CsvSource(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MarketSourceError, match=r"candles\.csv"):
        CsvSource(tmp_path / "empty")


candle_rows = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=5),  # spacing in intervals (gaps allowed)
        st.floats(min_value=0.01, max_value=1e6, allow_nan=False),  # low
        st.floats(min_value=0.0, max_value=1.0),  # open position inside the range
        st.floats(min_value=0.0, max_value=1.0),  # close position inside the range
        st.floats(min_value=0.0, max_value=0.5),  # range as a fraction of low
        st.floats(min_value=0.0, max_value=1e9, allow_nan=False),  # volume
    ),
    min_size=2,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=candle_rows, interval=st.sampled_from([60_000, 300_000, HOUR_MS]))
def test_any_valid_series_round_trips(
    rows: list[tuple[int, float, float, float, float, float]], interval: int
) -> None:
    steps = [0, 1] + [step for step, *_ in rows[2:]]  # the smallest spacing is one interval
    times = T0 + interval * np.cumsum(steps)
    low = np.array([r[1] for r in rows])
    high = low * (1 + np.array([r[4] for r in rows]))
    open_ = np.clip(low + (high - low) * np.array([r[2] for r in rows]), low, high)
    close = np.clip(low + (high - low) * np.array([r[3] for r in rows]), low, high)
    volume = np.array([r[5] for r in rows])
    lines = [
        f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}"
        for t, o, h, lo, c, v in zip(
            times.tolist(),
            open_.tolist(),
            high.tolist(),
            low.tolist(),
            close.tolist(),
            volume.tolist(),
            strict=True,
        )
    ]
    text = "open_time,open,high,low,close,volume\n" + "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        source = CsvSource(write(Path(tmp) / "sym", text))
        candles = asyncio.run(source.candles("SYM", 0))
    assert candles.open_time_ms.tolist() == times.tolist()
    assert candles.interval_ms == interval
    for name, expected in [("open", open_), ("high", high), ("low", low), ("close", close)]:
        assert getattr(candles, name).tolist() == expected.tolist()
    assert candles.volume.tolist() == volume.tolist()


async def test_precision_is_inferred_from_the_prices(tmp_path: Path) -> None:
    source = CsvSource(write(tmp_path / "btcusdt", CANDLES, OPEN_INTEREST))
    precision = await source.precision("BTCUSDT")
    assert (precision.tick_size, precision.lot_size) == (1.0, 0.001)
    assert precision.source.startswith("inferred:")
