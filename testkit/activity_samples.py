"""Sample grants, roles and policy folders for activity-report tests and bench/activity_calls.py:
alice's hour on ec2-admin (a role with a path, as CloudTrail's assumed-role ARN drops it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.model import AccessRequest, AuditEntry, State, iso

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ops/AWSEC2FULLACCESS"
START = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)

ROLE_TOML = """\
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
description = "Full EC2 access"
max_duration = "4h"
default_duration = "1h"
requesters = ["*"]
approvers = ["U0BOB", "U0CAROL"]
approvals_required = 1
"""


def sample_grant(**changes) -> AccessRequest:
    """alice's grant of ec2-admin from START to END, expired 40 s after its end."""
    base = AccessRequest(
        id="7K2M9QX4TD",
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester="U0ALICE",
        requester_name="alice",
        principal_arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
        duration_seconds=3600,
        reason="INC-42",
        created_at=iso(START - timedelta(minutes=5)),
        approval_deadline=iso(START + timedelta(hours=1)),
        approvals_required=1,
        state=State.EXPIRED,
        ends_at=iso(END),
        audit=(
            AuditEntry(iso(START - timedelta(minutes=5)), "U0ALICE", "requested", State.PENDING),
            AuditEntry(iso(START), "U0BOB", "approved", State.APPROVED),
            AuditEntry(iso(START), "switchback", "granted", State.ACTIVE),
            AuditEntry(iso(END + timedelta(seconds=40)), "switchback", "expired", State.EXPIRED),
        ),
    )
    return replace(base, **changes)


def sample_role(**changes) -> RoleSpec:
    base = RoleSpec(
        name="ec2-admin",
        role_arn=ROLE_ARN,
        description="",
        max_duration=timedelta(hours=4),
        default_duration=timedelta(hours=1),
        requesters=("*",),
        approvers=("U0BOB",),
    )
    return replace(base, **changes)


def policy_folder(root: Path, role_lines: str = "", roles: dict[str, str] | None = None) -> Path:
    """A policies/ folder: alice, bob and carol, and ec2-admin (plus ``role_lines``)."""
    (root / "roles").mkdir(parents=True, exist_ok=True)
    (root / "people.toml").write_text(
        "".join(
            f'[people.U0{name.upper()}]\nname = "{name}"\n'
            f'aws = "arn:aws:iam::{ACCOUNT}:user/{name}"\n\n'
            for name in ("alice", "bob", "carol")
        )
    )
    for name, text in (roles or {"ec2-admin": ROLE_TOML + role_lines}).items():
        (root / "roles" / f"{name}.toml").write_text(text)
    return root
