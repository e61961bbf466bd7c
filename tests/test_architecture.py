"""The package layout against `docs/architecture.md`: every import of one execsvc package by
another follows the layer table there (so there is no cycle between packages either), the pure
layers import no framework or I/O library, and the tree has exactly the documented packages."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "execsvc"
DOC = ROOT / "docs" / "architecture.md"
PURE_LAYERS = 4
IMPURE_LIBRARIES = ("fastapi", "starlette", "redis", "fakeredis", "ccxt", "uvicorn", "typer",
                    "prometheus_client", "sse_starlette", "aiohttp", "httpx", "rich")
STATIC_PACKAGES = {"ui"}


def documented_layers() -> dict[str, int]:
    """`package -> layer` from the table under `## Layers` in docs/architecture.md."""
    section = DOC.read_text().split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    return {package: int(layer) for layer, package in rows}


def unit_of(module: str) -> str:
    """The top-level unit of `execsvc.a.b`: `a` (a package or a top-level module)."""
    return module.split(".")[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, text: str | None = None) -> list[tuple[str, int]]:
    """Every imported module name with its line, wherever the import stands (functions,
    `TYPE_CHECKING` blocks included); relative imports resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, node.lineno))
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_documented_layers_are_the_packages() -> None:
    layers = documented_layers()
    units = {unit_of(module_name(p)) for p in sources() if module_name(p) != "execsvc"}
    assert units - STATIC_PACKAGES == set(layers), "docs/architecture.md and the tree differ"
    assert len(set(layers.values())) == len(layers), "one package per layer"


def upward_imports(path: Path, layers: dict[str, int], text: str | None = None) -> list[str]:
    """The imports of `path` (or of `text` standing at `path`) against the layer order."""
    module = module_name(path)
    mine = layers.get(unit_of(module))
    wrong = []
    for name, line in imports(path, text):
        if not name.startswith("execsvc.") or unit_of(name) == unit_of(module):
            continue
        theirs = layers.get(unit_of(name))
        if mine is None or theirs is None or theirs > mine:
            wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name} "
                         f"(layer {theirs} above {mine})")
    return wrong


def test_imports_follow_the_layer_order() -> None:
    layers = documented_layers()
    wrong = [w for path in sources() if module_name(path) != "execsvc"
             for w in upward_imports(path, layers)]
    assert not wrong, "\n".join(wrong)


def test_pure_layers_import_no_framework_or_io() -> None:
    layers = documented_layers()
    pure = {package for package, layer in layers.items() if layer <= PURE_LAYERS}
    wrong = []
    for path in sources():
        module = module_name(path)
        if module == "execsvc" or unit_of(module) not in pure:
            continue
        for name, line in imports(path):
            if name.split(".")[0] in IMPURE_LIBRARIES:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("relative", "statement"), [
    ("execsvc/domain/book.py", "from execsvc.liqmap.model import build_map"),
    ("execsvc/liqmap/cascade.py", "from execsvc.execution.stops import suggest_stop"),
    ("execsvc/store/band_store.py", "    import execsvc.api.app"),
    ("execsvc/market/replay.py", "from ..maps.worker import MapWorker"),
])
def test_the_check_catches_an_import_against_the_order(relative: str, statement: str) -> None:
    """The checker itself: one import against the order, added to a clean module (inside a
    function too, or relative), is reported."""
    layers = documented_layers()
    path = ROOT / relative
    assert upward_imports(path, layers) == []
    body = statement if not statement.startswith(" ") else f"def late():\n{statement}\n"
    text = path.read_text() + "\n" + body + "\n"
    assert len(upward_imports(path, layers, text)) == 1
