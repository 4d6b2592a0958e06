"""`make run|package|deploy POLICIES=<folder>` use that folder: the local stack loads it, the
package bundles it and generates the broker's policy from it (make -n shows the commands)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def planned(*args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "target, wants",
    [
        ("run", "SWITCHBACK_POLICIES={folder} .venv/bin/python -m tools.local_stack"),
        ("package", "-m tools.package --stage prod --policies {folder}"),
        ("deploy", "--policies {folder}"),
    ],
)
def test_policies_reach_each_command_as_an_absolute_folder(
    target: str, wants: str, tmp_path: Path
) -> None:
    folder = tmp_path / "team-policies"
    assert wants.format(folder=folder) in planned(target, f"POLICIES={folder}", "BUCKET=b")
    # A relative folder is resolved against the checkout, where make runs.
    relative = planned(target, "POLICIES=../team/policies", "BUCKET=b")
    assert wants.format(folder=(ROOT.parent / "team" / "policies")) in relative


def test_without_policies_the_checkouts_folder_is_used() -> None:
    assert f"--policies {ROOT / 'policies'}" in planned("package")


def test_make_test_never_needs_root() -> None:
    """Installing Chromium (apt-get, as root) is `make browser`, never part of `make test`."""
    plan = planned("test")
    assert "apt-get" not in plan and "chromium" not in plan
    assert ".venv/bin/python -m pytest" in plan


def test_ci_installs_the_browser_then_runs_the_tests_and_never_skips_the_browser() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    browser = commands.index("make browser")
    [test] = [c for c in commands if c.endswith("make test")]
    assert browser < commands.index(test) and "SWITCHBACK_REQUIRE_BROWSER=1" in test


@pytest.mark.parametrize("ci", ["CI", "SWITCHBACK_REQUIRE_BROWSER"])
def test_without_chromium_the_browser_test_fails_in_ci_saying_how_to_get_it(
    ci: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e import test_browser

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SWITCHBACK_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        test_browser.unavailable(f"/usr/bin/chromium is missing; {test_browser.HOW_TO_GET_IT}")
    assert "sudo make browser" in str(skipped.value)
    assert "chromium chromium-driver" in str(skipped.value)
    monkeypatch.setenv(ci, "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        test_browser.unavailable(f"/usr/bin/chromium is missing; {test_browser.HOW_TO_GET_IT}")
    assert "sudo make browser" in str(failed.value)


def test_make_bench_runs_every_bench_script_the_docs_cite() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    cited = {m for path in docs for m in re.findall(r"bench/\w+\.py", path.read_text())}
    assert cited, "the docs cite no bench script"
    run = set(re.findall(r"bench/\w+\.py", planned("bench")))
    assert cited <= run, f"cited but not run by `make bench`: {sorted(cited - run)}"
    scripts = {f"bench/{p.name}" for p in (ROOT / "bench").glob("*.py")}
    assert run <= scripts and scripts - run == {"bench/engine_setup.py"}  # a helper, not a bench
