"""Who may request which role, and who approves: the loader of the TOML files under ``policies/``.

Loaded once per process and validated whole; every error names the file and the field, so a
bad edit stops the stack at start instead of surprising someone at approval time. The fields of
people.toml are checked in loader/people.py, those of a role file in loader/roles.py.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path

from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.loader.people import check_unique_identities, check_unique_sessions, parse_people
from chalicelib.loader.roles import check_unique_arns, manager_problem, parse_role


class PolicyError(ValueError):
    """One or more problems in the policy files, each naming its file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid policies:\n  " + "\n  ".join(problems))


_ACCOUNT_FIELDS = {"manager_role_arn"}


def load_catalog(directory: str | Path) -> Catalog:
    """Read ``people.toml``, ``roles/*.toml`` and the optional ``accounts.toml``; raise
    PolicyError listing every problem."""
    root = Path(directory)
    problems: list[str] = []
    people_file = root / "people.toml"
    people: dict[str, Person] = {}
    people_doc = _read_toml(people_file, problems)
    if people_doc is not None:
        people = parse_people(people_doc, people_file, problems)
    check_unique_sessions(people, people_file, problems)
    check_unique_identities(
        {k: p for k, p in people.items() if not p.is_sso}, people_file, problems
    )
    account_managers = _parse_accounts(root / "accounts.toml", problems)
    roles: dict[str, RoleSpec] = {}
    role_files: dict[str, str] = {}
    roles_dir = root / "roles"
    if not roles_dir.is_dir():
        problems.append(f"{roles_dir}: folder missing (one TOML file per requestable role)")
    else:
        for path in sorted(roles_dir.glob("*.toml")):
            doc = _read_toml(path, problems)
            if doc is None:
                continue
            spec = parse_role(path, doc, people, problems)
            if spec is not None and spec.manager_role_arn is None:
                spec = replace(spec, manager_role_arn=account_managers.get(spec.account_id))
            if spec is not None:
                roles[spec.name] = spec
                role_files[spec.name] = str(path)
    check_unique_arns(roles, role_files, problems)
    if problems:
        raise PolicyError(problems)
    return Catalog(people=people, roles=roles, role_files=role_files)


def _read_toml(path: Path, problems: list[str]) -> dict | None:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problems.append(f"{path}: file missing")
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path}: not valid TOML ({error})")
    except OSError as error:
        problems.append(f"{path}: unreadable ({error.strerror})")
    return None


def _parse_accounts(path: Path, problems: list[str]) -> dict[str, str]:
    """``accounts.toml`` (optional): ``[accounts."<id>"] manager_role_arn = "..."`` for every
    role in that account whose own file names no manager."""
    if not path.exists():
        return {}
    doc = _read_toml(path, problems)
    if doc is None:
        return {}
    table = doc.get("accounts")
    if not isinstance(table, dict):
        problems.append(f'{path}: [accounts."<account id>"] tables missing')
        return {}
    managers: dict[str, str] = {}
    for account, entry in table.items():
        where = f"{path}: accounts.{account}"
        if not re.fullmatch(r"\d{12}", account):
            problems.append(f"{where}: '{account}' is not a 12-digit AWS account ID")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table with manager_role_arn")
            continue
        for unknown in sorted(set(entry) - _ACCOUNT_FIELDS):
            problems.append(f"{where}.{unknown}: unknown field")
        manager = entry.get("manager_role_arn")
        problem = manager_problem(manager, account)
        if problem:
            problems.append(f"{where}.manager_role_arn: {problem}")
            continue
        managers[account] = manager
    return managers
