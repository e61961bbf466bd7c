"""Tiny SVG writing helpers: escaped elements, compact numbers, text width estimates."""

from __future__ import annotations

from html import escape
from typing import Any

FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
"""Font stack: DejaVu Sans first (what Debian's chromium and most Linux hosts have)."""

NARROW = frozenset("iIjlft.,:;|!'()[] ")
WIDE = frozenset("mwMW%@")
"""Characters much narrower / wider than average in DejaVu Sans (for width estimates)."""


def esc(value: Any) -> str:
    """Text or attribute value, escaped for XML."""
    return escape(str(value), quote=True)


def num(value: float) -> str:
    """A coordinate with one decimal, without a trailing `.0`."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def attrs(values: dict[str, Any]) -> str:
    parts = []
    for name, value in values.items():
        if value is None:
            continue
        shown = num(value) if isinstance(value, float) else value
        parts.append(f' {name}="{esc(shown)}"')
    return "".join(parts)


def element(name: str, values: dict[str, Any], children: str | None = None) -> str:
    """`<name attrs/>`, or `<name attrs>children</name>` (children already SVG)."""
    if children is None:
        return f"<{name}{attrs(values)}/>"
    return f"<{name}{attrs(values)}>{children}</{name}>"


def text(x: float, y: float, content: str, **style: Any) -> str:
    """A text element; keyword names use `_` for `-` (`font_size=12`)."""
    values = {"x": x, "y": y, **{k.replace("_", "-"): v for k, v in style.items()}}
    return element("text", values, esc(content))


def coloured_text(x: float, y: float, spans: list[tuple[str, str]], **style: Any) -> str:
    """One text element made of `(content, fill)` spans."""
    children = "".join(element("tspan", {"fill": fill}, esc(content)) for content, fill in spans)
    values = {"x": x, "y": y, **{k.replace("_", "-"): v for k, v in style.items()}}
    return element("text", values, children)


def title(content: str) -> str:
    """A `<title>` child: the native tooltip of its parent."""
    return f"<title>{esc(content)}</title>"


def text_width(content: str, font_size: float) -> float:
    """Estimated rendered width of a text in pixels (DejaVu Sans advances, roughly)."""
    em = 0.0
    for char in content:
        if char in NARROW:
            em += 0.32
        elif char in WIDE:
            em += 0.88
        elif char.isupper() or char.isdigit() or char == "#":
            em += 0.66
        else:
            em += 0.56
    return em * font_size


def document(
    width: int, height: int, body: list[str], data: dict[str, Any], label: str = ""
) -> str:
    """The root `<svg>` with a white background; `data` becomes `data-*` attributes and
    `label` the accessible name."""
    root = {
        "xmlns": "http://www.w3.org/2000/svg",
        "width": width,
        "height": height,
        "viewBox": f"0 0 {width} {height}",
        "font-family": FONT,
        "role": "img",
        "aria-label": label or None,
        **{f"data-{k.replace('_', '-')}": v for k, v in data.items()},
    }
    background = element("rect", {"class": "background", "x": 0, "y": 0, "width": width,
                                  "height": height, "fill": "#ffffff"})
    return element("svg", root, "\n".join([background, *body]))
