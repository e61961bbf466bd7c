"""Risk policies: the schema of `policies/*.toml` and its loader.

A policy carries a `name` and a `version`, policy-wide settings (`map_window`,
`max_orders_per_minute`), the `[default]` limits every symbol gets and `[symbols.<SYMBOL>]`
overrides, which replace single fields of the default (a `near_cluster` table in an override
replaces the whole default table). `policies/README.md` documents every field with its unit.

Units are in the names: `*_quote` in quote currency (USDT for USDT-margined perps), `*_pct` in
percent of the mark price, leverage as a plain multiple (20 = 20x), intensity 0..1 as in the
map's clusters.

Every model refuses unknown keys, strings where numbers belong, NaN and infinities, so a typo
is an error naming the key. `load_policy` raises `PolicyError` naming the file, the key path
(`default.max_leverage`) and the line where it can be found.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from execsvc.domain.units import Window

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
SYMBOL_KEY = re.compile(r"^[A-Z0-9._-]{1,40}$")


def _version(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("version must be a whole number >= 0 or a semver string like '1.2.0'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("version must be >= 0")
        return value
    if isinstance(value, str) and SEMVER.match(value):
        return value
    raise ValueError(f"version must be a whole number >= 0 or a semver string like '1.2.0', "
                     f"not {value!r}")


def _symbol_key(value: str) -> str:
    if not SYMBOL_KEY.match(value):
        raise ValueError(f"symbol keys are upper-case configured symbols like BTCUSDT, "
                         f"not {value!r}")
    return value


Version = Annotated[int | str, BeforeValidator(_version)]
SymbolKey = Annotated[str, AfterValidator(_symbol_key)]
Notional = Annotated[float, Field(gt=0, description="quote currency")]
Leverage = Annotated[float, Field(ge=1, le=1000, description="multiple, 20 = 20x")]
Collar = Annotated[float, Field(gt=0, lt=100, description="percent of the mark price")]
Intensity = Annotated[float, Field(ge=0, le=1, description="cluster intensity, 0..1")]
StopMode = Literal["refuse", "flag"]


class LocatedValueError(ValueError):
    """A cross-field error that knows the key path it belongs to (relative to its model)."""

    def __init__(self, loc: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class NearCluster(_Model):
    """A lower position cap while the position's stop or liquidation price lies within
    `distance_pct` (percent of the mark price) of a cluster with `intensity >= min_intensity`
    on the position's own side (long-liquidation clusters for a long)."""

    distance_pct: Annotated[float, Field(gt=0, lt=100)]
    min_intensity: Intensity
    max_position_notional_quote: Notional


class Limits(_Model):
    """The limits that apply to one symbol."""

    max_order_notional_quote: Notional
    max_position_notional_quote: Notional
    max_leverage: Leverage
    price_collar_pct: Collar
    stop_inside_cluster: StopMode = "refuse"
    stop_cluster_min_intensity: Intensity = 0.0
    stop_beyond_liquidation: StopMode = "refuse"
    near_cluster: NearCluster | None = None

    @model_validator(mode="after")
    def _near_cap_is_lower(self) -> Limits:
        near = self.near_cluster
        if near is not None and near.max_position_notional_quote >= (
            self.max_position_notional_quote
        ):
            raise LocatedValueError(
                ("near_cluster", "max_position_notional_quote"),
                f"the near-cluster cap ({near.max_position_notional_quote:,.0f}) must be lower "
                f"than max_position_notional_quote ({self.max_position_notional_quote:,.0f})",
            )
        return self


class LimitsOverride(_Model):
    """A symbol's departures from `[default]`; fields left out keep the default's value."""

    max_order_notional_quote: Notional | None = None
    max_position_notional_quote: Notional | None = None
    max_leverage: Leverage | None = None
    price_collar_pct: Collar | None = None
    stop_inside_cluster: StopMode | None = None
    stop_cluster_min_intensity: Intensity | None = None
    stop_beyond_liquidation: StopMode | None = None
    near_cluster: NearCluster | None = None


class Policy(_Model):
    """A whole policy file. `limits_for(symbol)` gives the effective limits of a symbol."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    version: Version
    description: str = ""
    map_window: Window = "7d"
    max_orders_per_minute: Annotated[int, Field(ge=1)]
    default: Limits
    symbols: dict[SymbolKey, LimitsOverride] = Field(default_factory=dict)
    _effective: dict[str, Limits] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _merge_symbols(self) -> Policy:
        base = self.default.model_dump()
        for symbol, override in self.symbols.items():
            merged = {**base, **override.model_dump(exclude_none=True)}
            try:
                self._effective[symbol] = Limits.model_validate(merged)
            except ValidationError as exc:
                error = exc.errors()[0]
                cause = error.get("ctx", {}).get("error")
                loc = cause.loc if isinstance(cause, LocatedValueError) else error["loc"]
                reason = cause.reason if isinstance(cause, LocatedValueError) else error["msg"]
                raise LocatedValueError(("symbols", symbol, *map(str, loc)), reason) from exc
        return self

    def limits_for(self, symbol: str) -> Limits:
        return self._effective.get(symbol.upper(), self.default)

    @property
    def label(self) -> str:
        """`name@version`, as logged with every decision."""
        return f"{self.name}@{self.version}"


class PolicyError(Exception):
    """A policy file that cannot be used. `location` is a key path (`default.max_leverage`) or
    `line N, column M` for TOML syntax; `line` is set where the file shows it."""

    def __init__(self, path: str | Path, location: str, reason: str,
                 line: int | None = None) -> None:
        self.path = str(path)
        self.location = location
        self.reason = reason
        self.line = line
        where = f" (line {line})" if line is not None and "line" not in location else ""
        super().__init__(f"{self.path}: {location}{where}: {reason}")


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")
_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _split_key(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in dotted.split("."))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """1-based line of each table header and `key = value` line, by its full key path. Covers
    the plain TOML a policy is written in (headers, bare or quoted dotted keys)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _TABLE.match(raw)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key:
            lines.setdefault(table + _split_key(key.group(1)), number)
    return lines


def _line_of(loc: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _from_validation(path: Path, text: str, exc: ValidationError) -> PolicyError:
    lines = key_lines(text)
    found = []
    # A typo shows as an unknown key plus a missing one: name the unknown key first.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    for error in errors:
        cause = error.get("ctx", {}).get("error")
        loc = tuple(str(part) for part in error["loc"] if part != "[key]")
        reason = str(cause) if isinstance(cause, ValueError) else error["msg"]
        if isinstance(cause, LocatedValueError):
            loc, reason = loc + cause.loc, cause.reason
        found.append((loc, reason))
    loc, reason = found[0]
    if len(found) > 1:
        others = "; ".join(f"{'.'.join(o) or 'policy'}: {r}" for o, r in found[1:])
        reason = f"{reason} (and {len(found) - 1} more: {others})"
    return PolicyError(path, ".".join(loc) or "policy", reason, _line_of(loc, lines))


def parse_policy(text: str, path: str | Path = "<policy>") -> Policy:
    """A policy from TOML text; `path` only names it in errors."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        if position is not None:
            line, column = int(position.group(1)), int(position.group(2))
            reason = f"invalid TOML: {message[: position.start()]}"
            raise PolicyError(path, f"line {line}, column {column}", reason, line) from exc
        end = _TOML_END.search(message)
        line = max(1, len(text.splitlines()))
        reason = f"invalid TOML: {message[: end.start()] if end else message}"
        raise PolicyError(path, f"line {line} (end of file)", reason, line) from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(path, text, exc) from exc


def load_policy(path: str | Path) -> Policy:
    """Read and validate one policy file; `PolicyError` names what is wrong and where."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(path, "file", exc.strerror or str(exc)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(path, "file", f"not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from exc
    return parse_policy(text, path)


def load_policies_dir(
    directory: str | Path,
    policy_file: str = "default.toml",
    *,
    windows: list[str] | None = None,
) -> Policy:
    """The active policy: `policy_file` inside `directory` (`EXECSVC_POLICIES_DIR`). With
    `windows` (the configured map windows), a `map_window` outside them is refused too, since
    the rules could never see a map."""
    directory = Path(directory)
    path = directory / policy_file
    if not path.is_file():
        present = sorted(p.name for p in directory.glob("*.toml")) if directory.is_dir() else []
        listing = ", ".join(present) if present else "no *.toml files"
        raise PolicyError(path, "file", f"no such policy file (the directory has {listing})")
    policy = load_policy(path)
    if windows is not None and policy.map_window not in windows:
        lines = key_lines(path.read_text("utf-8"))
        raise PolicyError(
            path, "map_window", f"{policy.map_window!r} is not a computed window (configured: "
            f"{', '.join(windows)}; EXECSVC_WINDOWS)", lines.get(("map_window",)),
        )
    return policy
