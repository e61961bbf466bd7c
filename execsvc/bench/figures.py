"""The figures `execsvc bench` reports: each with its unit, its target (if it has one) and
whether it met it; grouped in sections (one per benchmark) that print as a table or go out as
JSON. A benchmark plugs in by returning a `Section`."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Comparison = Literal["<", "<=", ">", ">="]
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True, slots=True)
class Target:
    """Met when `value <op> limit` (a NaN value never meets it)."""

    op: Comparison
    limit: float

    def met(self, value: float) -> bool:
        return not math.isnan(value) and _COMPARE[self.op](value, self.limit)

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number: `name` says what it is (a ratio names both sides), `note` how it
    was measured or what the baseline was."""

    name: str
    value: float
    unit: str = ""
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True or False against the target; None without one."""
        return None if self.target is None else self.target.met(self.value)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name, "value": None if math.isnan(self.value) else self.value,
            "unit": self.unit, "note": self.note, "met": self.met,
            "target": None if self.target is None else {"op": self.target.op,
                                                        "limit": self.target.limit},
        }


@dataclass(frozen=True, slots=True)
class Section:
    """One benchmark's figures, with the setup they were measured in (`title`, `notes`)."""

    key: str
    title: str
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "title": self.title, "notes": list(self.notes),
                "figures": [figure.to_json() for figure in self.figures]}


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.2e}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def render(section: Section) -> str:
    """The section as text: its title, one row per figure (value, target, ok / MISSED),
    then its notes."""
    width = max([len(f.name) for f in section.figures] + [6])
    lines = [section.title]
    for figure in section.figures:
        value = f"{_number(figure.value)} {figure.unit}".rstrip()
        target = "" if figure.target is None else f"target {figure.target} {figure.unit}"
        verdict = {None: "", True: "ok", False: "MISSED"}[figure.met]
        row = f"  {figure.name:<{width}}  {value:>16}  {target.rstrip():<24}  {verdict}"
        lines.append(row.rstrip())
        if figure.note:
            lines.append(f"  {'':<{width}}  ({figure.note})")
    lines += [f"  {note}" for note in section.notes]
    return "\n".join(lines)


def missed(sections: Sequence[Section]) -> list[tuple[Section, Figure]]:
    return [(s, f) for s in sections for f in s.figures if f.met is False]


def summary(sections: Sequence[Section]) -> str:
    """One line: how many figures with a target met it, and which did not."""
    judged = [f for s in sections for f in s.figures if f.met is not None]
    failed = missed(sections)
    if not failed:
        return f"all {len(judged)} figures with a target met it"
    names = "; ".join(f"{s.key}: {f.name}" for s, f in failed)
    return f"{len(failed)} of {len(judged)} figures with a target MISSED it: {names}"


def report_json(sections: Sequence[Section]) -> dict[str, object]:
    return {"sections": [s.to_json() for s in sections],
            "missed": [{"section": s.key, "figure": f.name} for s, f in missed(sections)]}
