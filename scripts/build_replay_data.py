"""Build the bundled replay datasets in `execsvc/market/data/` from the shared raw data.

Run once by a developer (needs the `data` extra: pandas + pyarrow; the package itself does not):

    python scripts/build_replay_data.py [--source /work/shared/data] [--out execsvc/market/data]

Output, byte-for-byte deterministic for the same input:

- `<venue>_<SYMBOL>.npz` per dataset (`BTC-PERP.npz` for FTX's), arrays `open_time_ms` (int64,
  candle open, epoch ms UTC), `from_proxy` (bool, venue datasets: a Binance proxy candle),
  `open`/`high`/`low`/`close` (float64, quote per base), `volume` (float64, base units),
  `taker_buy_volume` (float64, base units, NaN: no source reports the split), `oi_time_ms`
  (int64, epoch ms UTC) and `oi_quote` (float64, open interest as quote notional; both empty
  when the dataset has no open interest).
- `replay_manifest.json` (format 2): the venues in order and, per dataset (`venue/symbol`),
  the file, venue, symbol, quote currency, interval, open-interest venue, own and proxied
  candles, row counts, time span, gaps found, transformations and upstream sources
  (repository, commit, license, path, sha256 of the input file).

Datasets:

- `hyperliquid` and `lighter`, BTCUSDT and ETHUSDT (USDC, 1 h): the venue's own hourly open
  interest (`finm33150_multivenue/open_interest.parquet`, `oi_usd`); candles the venue's own
  where recorded (Lighter's, `candles.parquet`) and Binance USD-M's hourly candles (timestamp =
  candle open, volume in base units) as the stated price proxy in every other hour; all four cut
  to one common span, so the venues share the replay clock.
- BTC-PERP (`ftx`, USD, 1 min): `nautilus/ftx-btc-perp-20211231-20220201_1m.csv`. Its timestamp
  labels the candle *close* (the 2022-01-12 13:30 UTC CPI print and the 2022-01-26 19:00 UTC
  FOMC statement show up in the candles stamped 13:31 and 19:01), so the open time is the stamp
  minus one minute. Its volume is USD notional; base volume = volume / close. No open interest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/data")
DEFAULT_OUT = REPO_ROOT / "execsvc" / "market" / "data"
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

FINM_REPO = {
    "repository": "https://github.com/0xknxwledge/group-m-finm33150-final",
    "commit": "64385d37d0696b72f7e1b5f00051fd3b61fcfe69",
    "license": "Unlicense",
}
NAUTILUS_REPO = {
    "repository": "https://github.com/nautechsystems/nautilus_trader",
    "commit": "parent of b596bf1be16fa454b0dc5c05aaccbd74c7a9c5c8 (file removed from HEAD)",
    "license": "LGPL-3.0",
}
FTX_FILE = "nautilus/ftx-btc-perp-20211231-20220201_1m.csv"
MULTI_VENUE_COINS = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}
REPLAY_VENUES = ("hyperliquid", "lighter")
"""Venues with recorded hourly open-interest history, in the replay's order."""
OWN_CANDLE_VENUES = frozenset({"lighter"})
"""Replay venues whose own candles are recorded in (part of) the common span."""


@dataclass
class Dataset:
    """One built dataset: its arrays and its manifest entry."""

    symbol: str
    arrays: dict[str, np.ndarray]
    manifest: dict[str, object] = field(default_factory=dict)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_epoch_ms(times: pd.Series) -> np.ndarray:
    """UTC datetimes (tz-aware or naive-as-UTC) to int64 epoch milliseconds."""
    stamps = pd.to_datetime(times, utc=True)
    return (stamps.astype("datetime64[ms, UTC]").astype("int64")).to_numpy(dtype=np.int64)


def iso(ms: int) -> str:
    """Epoch ms to an ISO-8601 UTC string."""
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def find_gaps(times_ms: np.ndarray, step_ms: int) -> list[dict[str, object]]:
    """Holes in a regular series: each as the last time before and the first time after, with
    the number of missing steps. `times_ms` must be sorted and free of duplicates."""
    diffs = np.diff(times_ms)
    holes = np.flatnonzero(diffs != step_ms)
    return [
        {
            "after": iso(int(times_ms[i])),
            "before": iso(int(times_ms[i + 1])),
            "missing_steps": int(diffs[i] // step_ms) - 1,
        }
        for i in holes
    ]


def check_times(times_ms: np.ndarray, step_ms: int, label: str) -> list[dict[str, object]]:
    """Fail on unsorted or duplicate times; return (and print) the gaps."""
    if np.any(np.diff(times_ms) <= 0):
        duplicates = int(np.sum(np.diff(times_ms) == 0))
        raise SystemExit(f"{label}: times not strictly increasing ({duplicates} duplicates)")
    gaps = find_gaps(times_ms, step_ms)
    print(
        f"{label}: {len(times_ms)} rows, {iso(int(times_ms[0]))} .. {iso(int(times_ms[-1]))}, "
        f"{len(gaps)} gap(s) {gaps}"
    )
    return gaps


def check_candles(arrays: dict[str, np.ndarray], label: str) -> None:
    """Fail unless every candle is finite, positive and consistent (low <= open, close <= high)."""
    o, h, lo, c, v = (arrays[k] for k in ("open", "high", "low", "close", "volume"))
    finite = np.isfinite(np.stack([o, h, lo, c, v])).all()
    consistent = (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    if not (finite and consistent and (lo > 0).all() and (v >= 0).all()):
        raise SystemExit(f"{label}: candles fail the finite/positive/high-low checks")


def candle_arrays(
    open_time_ms: np.ndarray, frame: pd.DataFrame, columns: tuple[str, ...], volume: np.ndarray
) -> dict[str, np.ndarray]:
    """Assemble the candle arrays; `columns` names open, high, low, close in `frame`."""
    o, h, lo, c = (frame[name].to_numpy(dtype=np.float64) for name in columns)
    return {
        "open_time_ms": open_time_ms.astype(np.int64),
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
        "volume": volume.astype(np.float64),
        "taker_buy_volume": np.full(len(open_time_ms), np.nan),
    }


def load_candles(source: Path, venue: str, coin: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Hourly perp candles of `coin` on `venue`, sorted: (open_time_ms, frame with o,h,l,c,v)."""
    frame = pd.read_parquet(source / "finm33150_multivenue" / "candles.parquet")
    frame = frame[(frame["venue"] == venue) & (frame["coin"] == coin)]
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return to_epoch_ms(frame["timestamp"]), frame


def load_oi(source: Path, venue: str, coin: str) -> tuple[np.ndarray, np.ndarray]:
    """Hourly open interest of `coin` on `venue`, sorted: (time_ms, oi in USD notional)."""
    frame = pd.read_parquet(source / "finm33150_multivenue" / "open_interest.parquet")
    frame = frame[(frame["venue"] == venue) & (frame["coin"] == coin)]
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return to_epoch_ms(frame["timestamp"]), frame["oi_usd"].to_numpy(dtype=np.float64)


def common_span(source: Path) -> tuple[int, int]:
    """The span (first candle open, last candle close; epoch ms) every replayed venue covers:
    from the latest first OI sample of any replay venue and coin (Lighter's, 2025-12-10 13:00)
    to the earliest end of the Binance candles and the OI series. One span for every venue and
    symbol puts them all on one replay clock."""
    starts, ends = [], []
    for coin in MULTI_VENUE_COINS.values():
        candle_ms, _ = load_candles(source, "binance", coin)
        starts.append(int(candle_ms[0]))
        ends.append(int(candle_ms[-1]) + HOUR_MS)
        for venue in REPLAY_VENUES:
            oi_ms, _ = load_oi(source, venue, coin)
            starts.append(int(oi_ms[0]))
            ends.append(int(oi_ms[-1]))
    return max(starts), min(ends)


def merged_candles(
    source: Path, venue: str, coin: str, start: int, end: int
) -> tuple[dict[str, np.ndarray], int]:
    """Hourly candles over `[start, end)`: `venue`'s own where recorded, Binance's (the stated
    price proxy) in every other hour; also returns how many hours are the venue's own. The
    array `from_proxy` marks each proxied candle."""
    binance_ms, binance = load_candles(source, "binance", coin)
    check_times(binance_ms, HOUR_MS, f"{coin} binance candles (full file)")
    keep = (binance_ms >= start) & (binance_ms + HOUR_MS <= end)
    table = binance[keep].set_index(binance_ms[keep])[["o", "h", "l", "c", "v"]]
    from_proxy = np.ones(len(table), dtype=bool)
    if venue in OWN_CANDLE_VENUES:
        own_ms, own = load_candles(source, venue, coin)
        check_times(own_ms, HOUR_MS, f"{coin} {venue} candles (full file)")
        own = own.set_index(own_ms)[["o", "h", "l", "c", "v"]]
        own = own[own.index.isin(table.index)]
        table.loc[own.index] = own.to_numpy()
        from_proxy = ~table.index.isin(own.index)
    times = table.index.to_numpy(dtype=np.int64)
    arrays = candle_arrays(times, table, ("o", "h", "l", "c"), table["v"].to_numpy())
    arrays["from_proxy"] = from_proxy
    return arrays, int((~from_proxy).sum())


def build_venue(source: Path, venue: str, symbol: str, span: tuple[int, int]) -> Dataset:
    """One replay venue's dataset of `symbol`: its own hourly OI, its own candles where
    recorded and Binance's as the price proxy elsewhere, over the common span."""
    coin = MULTI_VENUE_COINS[symbol]
    start, end = span
    arrays, own = merged_candles(source, venue, coin, start, end)
    oi_ms, oi_usd = load_oi(source, venue, coin)
    check_times(oi_ms, HOUR_MS, f"{symbol} {venue} OI (full file)")
    keep_oi = (oi_ms >= start) & (oi_ms <= end)
    arrays["oi_time_ms"] = oi_ms[keep_oi].astype(np.int64)
    arrays["oi_quote"] = oi_usd[keep_oi]
    label = f"{venue} {symbol}"
    check_candles(arrays, label)
    candle_gaps = check_times(arrays["open_time_ms"], HOUR_MS, f"{label} candles (kept)")
    oi_gaps = check_times(arrays["oi_time_ms"], HOUR_MS, f"{label} OI (kept)")
    proxied = find_runs(arrays["open_time_ms"], arrays["from_proxy"])
    files = ("candles.parquet", "open_interest.parquet")
    manifest = {
        "venue": venue,
        "symbol": symbol,
        "exchange": venue,
        "quote_currency": "USDC",
        "interval_ms": HOUR_MS,
        "open_interest_venue": venue,
        "own_candles": own,
        "proxy_candles": int(arrays["from_proxy"].sum()),
        "proxy_spans": proxied,
        "candle_gaps": candle_gaps,
        "open_interest_gaps": oi_gaps,
        "transform": [
            *candle_transform(venue, coin),
            "taker_buy_volume: NaN (not in the source)",
            f"open interest: venue == '{venue}' and coin == '{coin}', oi_usd (the venue's base "
            "open interest x mark price, USD) stored as oi_quote, unchanged",
            f"everything cut to the span every replay venue covers, {iso(start)} .. {iso(end)}",
        ],
        "sources": [
            {
                **FINM_REPO,
                "path": f"data/{name}",
                "sha256": sha256_of(source / "finm33150_multivenue" / name),
            }
            for name in files
        ],
    }
    return Dataset(f"{venue}_{symbol}", arrays, manifest)


def candle_transform(venue: str, coin: str) -> list[str]:
    """The manifest's words for how `venue`'s candles were made."""
    proxy = (f"Binance USD-M hourly candles (venue == 'binance' and coin == '{coin}'; timestamp "
             "is the candle open; o,h,l,c in USDT, v in base units) as the stated price proxy")
    if venue not in OWN_CANDLE_VENUES:
        return [f"candles: {proxy} in every hour: {venue} candles are not recorded for this "
                "span"]
    return [f"candles: {venue}'s own (venue == '{venue}' and coin == '{coin}'; o,h,l,c in "
            f"USDC, v in base units) where recorded; {proxy} in every hour without one "
            "(from_proxy marks them; proxy_spans lists them)"]


def find_runs(times_ms: np.ndarray, flags: np.ndarray) -> list[dict[str, object]]:
    """Runs of consecutive flagged candles: first open and last open (ISO) and length."""
    runs: list[dict[str, object]] = []
    index = 0
    while index < len(flags):
        if not flags[index]:
            index += 1
            continue
        stop = index
        while stop + 1 < len(flags) and flags[stop + 1]:
            stop += 1
        runs.append({"first": iso(int(times_ms[index])), "last": iso(int(times_ms[stop])),
                     "candles": stop - index + 1})
        index = stop + 1
    return runs


def build_ftx(source: Path) -> Dataset:
    """FTX BTC-PERP 1-minute candles: open time = stamp - 1 min, volume USD -> base."""
    frame = pd.read_csv(source / FTX_FILE)
    stamps = pd.to_datetime(frame["timestamp"], format="%Y-%m-%d %H:%M:%S.%f", utc=True)
    frame = frame.assign(timestamp=stamps).sort_values("timestamp", kind="stable")
    frame = frame.reset_index(drop=True)
    open_ms = to_epoch_ms(frame["timestamp"]) - MINUTE_MS
    close = frame["close"].to_numpy(dtype=np.float64)
    base_volume = frame["volume"].to_numpy(dtype=np.float64) / close
    arrays = candle_arrays(open_ms, frame, ("open", "high", "low", "close"), base_volume)
    arrays["oi_time_ms"] = np.zeros(0, dtype=np.int64)
    arrays["oi_quote"] = np.zeros(0, dtype=np.float64)
    check_candles(arrays, "BTC-PERP")
    gaps = check_times(arrays["open_time_ms"], MINUTE_MS, "BTC-PERP ftx candles")
    manifest = {
        "exchange": "ftx",
        "quote_currency": "USD",
        "interval_ms": MINUTE_MS,
        "open_interest_venue": None,
        "candle_gaps": gaps,
        "open_interest_gaps": [],
        "transform": [
            "timestamp labels the candle close (CPI 2022-01-12 13:30 and FOMC 2022-01-26 19:00 "
            "UTC moves appear in the 13:31 and 19:01 rows): open_time = timestamp - 60 s",
            "volume is USD notional in the source: volume (base BTC) = volume_usd / close",
            "taker_buy_volume: NaN (not in the source); no open interest",
        ],
        "sources": [
            {
                **NAUTILUS_REPO,
                "path": "tests/test_data/ftx-btc-perp-20211231-20220201_1m.csv",
                "sha256": sha256_of(source / FTX_FILE),
            }
        ],
    }
    return Dataset("BTC-PERP", arrays, {"venue": "ftx", "symbol": "BTC-PERP", **manifest})


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (readable by `np.load`) with fixed zip timestamps, so the same arrays
    always give the same bytes (`np.savez_compressed` stamps the current time)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(
                member, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def summary(dataset: Dataset) -> dict[str, object]:
    """Row counts and the covered span (first open .. last close) of a dataset."""
    times = dataset.arrays["open_time_ms"]
    interval = int(dataset.manifest["interval_ms"])  # type: ignore[call-overload]
    return {
        "candles": len(times),
        "open_interest_samples": len(dataset.arrays["oi_time_ms"]),
        "start_ms": int(times[0]),
        "end_ms": int(times[-1]) + interval,
        "start": iso(int(times[0])),
        "end": iso(int(times[-1]) + interval),
    }


def write_outputs(datasets: list[Dataset], out: Path) -> None:
    """Write one npz per dataset and `replay_manifest.json` describing all of them."""
    out.mkdir(parents=True, exist_ok=True)
    entries: dict[str, object] = {}
    for dataset in datasets:
        file_name = f"{dataset.symbol}.npz"
        (out / file_name).write_bytes(npz_bytes(dataset.arrays))
        key = f"{dataset.manifest['venue']}/{dataset.manifest['symbol']}"
        entries[key] = {"file": file_name, **summary(dataset), **dataset.manifest}
        print(f"wrote {file_name}: {(out / file_name).stat().st_size:,} bytes")
    manifest = {
        "format": 2,
        "built_by": "scripts/build_replay_data.py",
        "venues": [*REPLAY_VENUES, "ftx"],
        "datasets": entries,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (out / "replay_manifest.json").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    span = common_span(args.source)
    datasets = [build_venue(args.source, venue, symbol, span)
                for venue in REPLAY_VENUES for symbol in MULTI_VENUE_COINS]
    datasets.append(build_ftx(args.source))
    write_outputs(datasets, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
