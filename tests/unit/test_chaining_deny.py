"""The chaining deny covers every STS action that yields a new session (or a token to get one
elsewhere): a session obtained that way is not a session of the role, so the role's cuts
would not reach it. Read by the independent evaluator (tests/iam_eval.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.session
import pytest

from chalicelib.core import session_limits
from chalicelib.core.session_limits import (
    CHAINING_ACTIONS,
    LEGACY_CHAINING_ACTIONS,
    Cut,
    document,
    read,
)
from tests.support.iam_eval import session_may

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ID = "AROAEXAMPLEROLEID0001"
NEW_SESSION_ACTIONS = [
    "sts:AssumeRole",
    "sts:AssumeRoleWithSAML",
    "sts:AssumeRoleWithWebIdentity",
    "sts:AssumeRoot",
    "sts:GetFederationToken",
    "sts:GetSessionToken",
]


def sts_actions_yielding_sessions() -> set[str]:
    """From botocore's STS model: every operation that answers with credentials or a token."""
    model = botocore.session.get_session().get_service_model("sts")
    found = set()
    for name in model.operation_names:
        output = model.operation_model(name).output_shape
        members = set(output.members) if output else set()
        if members & {"Credentials", "WebIdentityToken"}:
            found.add(f"sts:{name}")
    return found


def test_every_sts_action_that_yields_a_session_is_in_the_chaining_deny() -> None:
    found = sts_actions_yielding_sessions()
    assert set(NEW_SESSION_ACTIONS) <= found  # the model still knows them all
    assert found <= set(CHAINING_ACTIONS), sorted(found - set(CHAINING_ACTIONS))
    assert "sts:GetCallerIdentity" not in CHAINING_ACTIONS  # cannot be denied (STS reference)


@pytest.mark.parametrize("action", NEW_SESSION_ACTIONS)
def test_a_granted_session_may_not_start_another_session(action: str) -> None:
    end = NOW + timedelta(hours=1)
    limits = document({"alice": Cut(live_end=end)}, deny_chaining=True)
    assert not session_may([limits], ROLE_ID, "alice", NOW, NOW + timedelta(minutes=1), action)
    assert session_may([limits], ROLE_ID, "alice", NOW, NOW + timedelta(minutes=1))
    # The role's other users are not the grant's business.
    assert session_may([limits], ROLE_ID, "i-0123456789abcdef0", NOW, NOW, action)
    allowed = document({"alice": Cut(live_end=end)}, deny_chaining=False)
    assert session_may([allowed], ROLE_ID, "alice", NOW, NOW + timedelta(minutes=1), action)


def test_a_chaining_deny_written_before_assume_root_reads_as_one_and_is_rewritten() -> None:
    """Policies already in IAM hold the four-action list: an upgrade is not reported as
    tampering (it reads as a chaining deny), and the next write carries the full list."""
    current = document({"alice": Cut(live_end=NOW + timedelta(hours=1))}, deny_chaining=True)
    legacy = {
        **current,
        "Statement": [
            dict(s, Action=LEGACY_CHAINING_ACTIONS) if s["Action"] != "*" else s
            for s in current["Statement"]
        ],
    }
    cuts, chaining = read(legacy)
    assert chaining == {"alice"} and cuts == read(current)[0]
    assert legacy != current  # a plan compares documents: the role is written again
    assert session_limits.grant_statements("alice", NOW, True)[-1]["Action"] == CHAINING_ACTIONS
