"""The folders of chalicelib/ are layers, and every import points down them.

    app.py, entry/                     entry points (they get the service from wiring.py)
    wiring.py                          the composition root
    service.py                         the use cases
    aws/ notify/ delivery/ web/ ...    adapters (and config, policies, telemetry, release)
    core/                              pure: no AWS, Slack, web, or file system

Read from the source with ast (lazy imports inside functions count too), so a shortcut taken
in a hurry fails here rather than in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chalicelib"

ADAPTERS = {"aws", "notify", "delivery", "web", "config", "policies", "telemetry", "release"}
ADAPTERS |= {"ports"}  # the Protocols the use cases see the adapters through
RANK = {"core": 0, **dict.fromkeys(ADAPTERS, 1), "service": 2, "wiring": 3, "entry": 4}

# What the core may import from outside itself: the standard library's pure parts, and RE2
# (a matching engine, no I/O).
CORE_MAY_IMPORT = {
    "__future__", "collections", "contextlib", "contextvars", "dataclasses", "datetime",
    "enum", "functools", "hashlib", "json", "math", "re", "re2", "secrets", "time", "typing",
}  # fmt: skip


def layer(module: str) -> str:
    """``chalicelib.aws.store`` -> ``aws``; ``chalicelib.service`` -> ``service``."""
    return module.split(".")[1]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "chalicelib":
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (``from chalicelib.x import y`` -> both the
    package and, when y is a module, ``chalicelib.x.y``)."""
    names: set[str] = set()
    known = set(modules())
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (imports are absolute)"
            base = node.module or ""
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return names


@pytest.mark.parametrize("module", sorted(modules()))
def test_every_import_points_down_the_layers(module: str) -> None:
    own = RANK[layer(module)]
    upward = [
        name
        for name in imports(modules()[module])
        if name.startswith("chalicelib.")
        and layer(name) != layer(module)
        and RANK[layer(name)] >= own
        and not (own == 1 and RANK[layer(name)] == 1)  # adapters may use one another
    ]
    assert upward == [], f"{module} imports a layer at or above its own: {upward}"


@pytest.mark.parametrize("module", sorted(m for m in modules() if layer(m) == "core"))
def test_the_core_imports_nothing_of_aws_slack_the_web_or_files(module: str) -> None:
    outside = {
        name.split(".")[0]
        for name in imports(modules()[module])
        if not name.startswith("chalicelib.core") and name != "chalicelib.core"
    }
    assert outside <= CORE_MAY_IMPORT, f"{module} imports {sorted(outside - CORE_MAY_IMPORT)}"


def test_entry_adapters_go_through_the_use_cases_only() -> None:
    """The slash command calls the service; it never reaches into the store or IAM."""
    for module in (m for m in modules() if layer(m) == "entry"):
        source = modules()[module].read_text()
        reached = {n for n in imports(modules()[module]) if n.startswith("chalicelib.aws")}
        assert reached == set(), f"{module} imports {sorted(reached)}"
        assert "service.store" not in source and "service.writer" not in source, module


def test_the_checks_above_see_an_upward_import() -> None:
    """The walker itself works: an adapter importing the use cases is caught."""
    assert "chalicelib.service" in imports(PACKAGE / "wiring.py")
    assert RANK[layer("chalicelib.service")] > RANK[layer("chalicelib.aws.store")]
