"""`make run|package|deploy POLICIES=<folder>` use that folder: the local stack loads it, the
package bundles it and generates the broker's policy from it (make -n shows the commands)."""

from __future__ import annotations

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
