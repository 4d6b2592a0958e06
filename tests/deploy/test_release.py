"""Which Switchback is running: GET /healthz names the version (pyproject.toml) and the commit
(from git in a checkout, baked into the zip by `make package`)."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from chalicelib import release
from tests.conftest import ROOT


def test_healthz_names_the_version_and_the_commit(client) -> None:
    release.current.cache_clear()
    answer = client.http.get("/healthz")
    assert answer.status_code == 200
    body = json.loads(answer.body)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert body["ok"] is True and body["version"] == version
    assert body["commit"].removesuffix("-dirty") == head


def test_the_changelog_describes_the_current_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()


def test_a_package_reads_the_baked_file_not_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baked = tmp_path / "release.json"
    baked.write_text(json.dumps({"version": "9.9.9", "commit": "0123456789ab"}))
    monkeypatch.setattr(release, "BAKED", baked)
    release.current.cache_clear()
    try:
        assert release.current() == {"version": "9.9.9", "commit": "0123456789ab"}
    finally:
        release.current.cache_clear()


def test_outside_a_checkout_the_commit_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2.0.0"\n')
    assert release.from_checkout(tmp_path) == {"version": "2.0.0", "commit": "unknown"}
