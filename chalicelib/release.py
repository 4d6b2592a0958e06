"""Which Switchback this is: the version from pyproject.toml and the git commit.

`make package` writes both into chalicelib/release.json (the zip has no pyproject.toml and no
.git); a checkout reads them from pyproject.toml and git. Read on first use, never at import.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
BAKED = HERE / "release.json"
PYPROJECT = HERE.parent / "pyproject.toml"
UNKNOWN = "unknown"


def from_checkout(root: Path = HERE.parent) -> dict[str, str]:
    """Version and commit of a checkout (the commit with "-dirty" if files changed)."""
    try:
        version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = UNKNOWN
    return {"version": version, "commit": _git_commit(root)}


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()


def _git_commit(root: Path) -> str:
    try:
        commit = _git(root, "rev-parse", "--short=12", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return f"{commit}-dirty" if commit and dirty else commit or UNKNOWN


@lru_cache(maxsize=1)
def current() -> dict[str, str]:
    """{"version": ..., "commit": ...} of the running code."""
    if BAKED.exists():
        return json.loads(BAKED.read_text())
    return from_checkout()
