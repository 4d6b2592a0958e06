"""The folders of chalicelib/ are layers, and every import points down them.

    app.py, tools/admin.py             entry points outside the package: no AWS adapter
    entry/                             inbound adapters (they get the service from wiring.py)
    wiring.py                          the composition root
    service.py, usecases/              the use cases (service.py: their facade)
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
# ports: the Protocols the use cases see the adapters through; loader: the policy loader's parts
ADAPTERS |= {"ports", "loader"}
RANK = {
    "core": 0,
    **dict.fromkeys(ADAPTERS, 1),
    "usecases": 2,
    "service": 2,
    "wiring": 3,
    "entry": 4,
}
# Same rank, one way only: the facade hands over to the use cases, never the reverse.
MAY_IMPORT_ALONGSIDE = {("service", "usecases")}
# Entry points outside chalicelib/: they call the service (or the use cases) through wiring.
ENTRY_POINTS = [ROOT / "app.py", ROOT / "tools" / "admin.py"]

# What the core may import from outside itself: the standard library's pure parts, and RE2
# (a matching engine, no I/O).
CORE_MAY_IMPORT = {
    "__future__", "collections", "contextlib", "contextvars", "dataclasses", "datetime",
    "enum", "functools", "hashlib", "json", "math", "re", "re2", "secrets", "time", "typing",
    "zoneinfo",  # the IANA time zone database: read-only reference data, as unicodedata is
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
        and (layer(module), layer(name)) not in MAY_IMPORT_ALONGSIDE
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


def through_the_use_cases_only(path: Path) -> None:
    """``path`` reaches neither the store nor IAM: no import of chalicelib.aws, and no
    ``service.store`` or ``service.writer``."""
    source = path.read_text()
    reached = {n for n in imports(path) if n == "chalicelib.aws" or n.startswith("chalicelib.aws.")}
    assert reached == set(), f"{path.relative_to(ROOT)} imports {sorted(reached)}"
    for shortcut in ("service.store", "service.writer"):
        assert shortcut not in source, f"{path.relative_to(ROOT)} uses {shortcut}"


def test_entry_adapters_go_through_the_use_cases_only() -> None:
    """The slash command calls the service; it never reaches into the store or IAM."""
    for module in (m for m in modules() if layer(m) == "entry"):
        through_the_use_cases_only(modules()[module])


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_entry_points_go_through_the_use_cases_only(path: Path) -> None:
    """The Chalice app and the operator CLI call the service, built by wiring; they never
    reach into the store or IAM themselves."""
    through_the_use_cases_only(path)
    for name in imports(path):
        if name.startswith("chalicelib."):
            assert layer(name) in RANK, f"{path.relative_to(ROOT)} imports {name}: which layer?"


@pytest.mark.parametrize(
    "module", sorted(m for m in modules() if layer(m) in ("usecases", "service"))
)
def test_the_use_cases_pick_no_slack_words(module: str) -> None:
    """A use case says what happened (an event) or why not (a refusal); the Slack payloads
    and their words are the notifier's and the slash command's."""
    picked = {n for n in imports(modules()[module]) if n.startswith("chalicelib.notify.messages")}
    assert picked == set(), f"{module} imports {sorted(picked)}"


def test_the_checks_above_see_an_upward_import() -> None:
    """The walker itself works: an adapter importing the use cases is caught."""
    assert "chalicelib.service" in imports(PACKAGE / "wiring.py")
    assert RANK[layer("chalicelib.service")] > RANK[layer("chalicelib.aws.store")]
    assert "chalicelib.usecases.deciding" in imports(PACKAGE / "service.py")
    assert RANK[layer("chalicelib.usecases.engine")] > RANK[layer("chalicelib.notify.port")]
    assert "chalicelib.wiring" in imports(ROOT / "tools" / "admin.py")


# -- what the tests read ---------------------------------------------------------------------------
# `make package` writes these into the checkout; only tests/deploy/ builds and reads them. A test
# elsewhere that reads them passes only after tests/deploy/ ran (alone or on another worker it
# fails): read the repository's own policies/ (tests/support/stages.py for a deployed stage).
BUILT = ("chalicelib/policies", "release.json", "vendor/", "dist/")
# Places outside the checkout a test may name: the system's programs and fixed files.
OUTSIDE_ALLOWED = ("/usr/bin/", "/bin/", "/dev/null", "/etc/", "/proc/")
# Values that look like paths but are never opened: hostile input the code must refuse.
NOT_READ = {("tests/unit/test_schedule.py", "../etc/passwd")}  # a "time zone" climbing out


def string_constants(path: Path) -> list[tuple[int, str]]:
    """String constants of ``path`` that are not docstrings, with their line."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def reads_outside(text: str) -> bool:
    for word in text.split():
        if word.startswith(("/work/", "/home/", "/mnt/", "/srv/", "/opt/", "~/")):
            return True
        if word.startswith("../") or "/../" in word:
            return True
    return False


@pytest.mark.parametrize(
    "path",
    sorted(p for folder in ("tests", "testkit") for p in (ROOT / folder).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_tests_read_only_the_checkout_as_committed(path: Path) -> None:
    """No test names a path outside the repository, and only tests/deploy/ reads what
    `make package` builds into it, so every file passes alone and on any worker, in any order."""
    relative = path.relative_to(ROOT).as_posix()
    if relative == "tests/test_layers.py":
        return  # the rule itself names what it looks for
    found = []
    for line, text in string_constants(path):
        if (relative, text) in NOT_READ:
            continue
        if reads_outside(text) and not text.startswith(OUTSIDE_ALLOWED):
            found.append(f"{relative}:{line}: outside the checkout: {text!r}")
        if not relative.startswith("tests/deploy/") and any(built in text for built in BUILT):
            found.append(f"{relative}:{line}: reads what `make package` builds: {text!r}")
    assert found == []


def test_the_read_check_sees_a_path_outside() -> None:
    assert reads_outside("see /work/shared/DESIGN.md") and reads_outside("../../policies")
    assert not reads_outside("policies/roles/ec2-admin.toml")


# -- room sizes (issue 19: no module over ~400 lines, no class over ~300) -----------------------
MODULE_LINES = 400
CLASS_LINES = 300
# Today's rooms over the line: each at its size now, and why it is still one room. The list only
# shrinks: a module here that grows fails, one that gets under the line must leave the list, and
# a module or class that crosses the line fails (lower a number here when its module shrinks).
OVERSIZE: dict[str, tuple[int, str]] = {}


def room_sizes() -> dict[str, tuple[int, list[tuple[str, int]]]]:
    """module (relative to chalicelib/) -> (lines, [(class, lines) over CLASS_LINES])."""
    sizes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        classes = [
            (node.name, node.end_lineno - node.lineno + 1)
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > CLASS_LINES
        ]
        sizes[path.relative_to(PACKAGE).as_posix()] = (len(text.splitlines()), classes)
    return sizes


def test_no_module_over_400_lines_and_no_class_over_300_but_the_known_ones() -> None:
    found = []
    for module, (lines, classes) in room_sizes().items():
        allowed, _why = OVERSIZE.get(module, (MODULE_LINES, ""))
        if lines > allowed:
            found.append(f"chalicelib/{module}: {lines} lines (at most {allowed})")
        if module in OVERSIZE and lines <= MODULE_LINES:
            found.append(f"chalicelib/{module}: {lines} lines now: take it off OVERSIZE")
        found += [f"chalicelib/{module}: class {name}: {n} lines" for name, n in classes]
    assert found == [], "split the room (docs/architecture.md), or see OVERSIZE"
    assert set(OVERSIZE) <= set(room_sizes()), "a module in OVERSIZE no longer exists"
