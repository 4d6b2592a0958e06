"""Roles in other accounts: manager_role_arn in a role file, or an account map accounts.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.policies import PolicyError, load_catalog
from tests.adapters.test_policies import PEOPLE, tree

SPOKE_ROLE = """
role_arn = "arn:aws:iam::210987654321:role/Billing"
max_duration = "1h"
requesters = ["*"]
approvers = ["U0BOB"]
"""
MANAGER = "arn:aws:iam::210987654321:role/switchback-manager"


def problems(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_catalog(directory)
    return raised.value.problems


def test_a_role_file_names_its_manager(tmp_path: Path) -> None:
    role = SPOKE_ROLE + f'manager_role_arn = "{MANAGER}"\n'
    catalog = load_catalog(tree(tmp_path, PEOPLE, {"billing": role}))
    assert catalog.role("billing").manager_role_arn == MANAGER
    assert catalog.managers() == {"arn:aws:iam::210987654321:role/Billing": MANAGER}


def test_the_account_map_gives_a_manager_to_every_role_of_that_account(tmp_path: Path) -> None:
    directory = tree(
        tmp_path,
        PEOPLE,
        {
            "billing": SPOKE_ROLE,
            "own": SPOKE_ROLE.replace("Billing", "Own")
            + 'manager_role_arn = "arn:aws:iam::210987654321:role/other-manager"\n',
            "home": SPOKE_ROLE.replace("210987654321", "123456789012"),
        },
    )
    (directory / "accounts.toml").write_text(
        f'[accounts."210987654321"]\nmanager_role_arn = "{MANAGER}"\n'
    )
    catalog = load_catalog(directory)
    assert catalog.role("billing").manager_role_arn == MANAGER
    assert catalog.role("own").manager_role_arn.endswith("/other-manager")  # the file wins
    assert catalog.role("home").manager_role_arn is None


def test_a_manager_must_be_a_role_in_the_roles_account(tmp_path: Path) -> None:
    directory = tree(
        tmp_path,
        PEOPLE,
        {
            "elsewhere": SPOKE_ROLE
            + 'manager_role_arn = "arn:aws:iam::123456789012:role/switchback-manager"\n',
            "garbled": SPOKE_ROLE.replace("Billing", "B2") + 'manager_role_arn = "admin"\n',
        },
    )
    found = problems(directory)
    assert any(
        "elsewhere.toml: manager_role_arn: the manager role must be in the same account as the "
        "role (210987654321), not 123456789012" in p
        for p in found
    ), found
    assert any("garbled.toml: manager_role_arn: 'admin' is not an IAM role ARN" in p for p in found)


def test_a_bad_account_map_names_the_entry(tmp_path: Path) -> None:
    directory = tree(tmp_path, PEOPLE, {"billing": SPOKE_ROLE})
    (directory / "accounts.toml").write_text(
        '[accounts."12345"]\nmanager_role_arn = "x"\n'
        f'[accounts."210987654321"]\nmanager_role_arn = "{MANAGER}"\nextra = 1\n'
        '[accounts."111111111111"]\n'
        'manager_role_arn = "arn:aws:iam::222222222222:role/m"\n'
    )
    found = problems(directory)
    assert any("accounts.12345: '12345' is not a 12-digit AWS account ID" in p for p in found)
    assert any("accounts.210987654321.extra: unknown field" in p for p in found)
    assert any(
        "accounts.111111111111.manager_role_arn: the manager role must be" in p for p in found
    )
    (directory / "accounts.toml").write_text("not toml [")
    assert any("accounts.toml: not valid TOML" in p for p in problems(directory))
