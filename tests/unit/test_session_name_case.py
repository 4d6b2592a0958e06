"""A cut matches its person's sessions whatever the case of the session name. IAM user names
ignore case, and the trust statement pins the session name to ${aws:username} — the name in
the case IAM holds it, which need not be how people.toml spells it. Read by the independent
evaluator (tests/iam_eval.py), which models StringEqualsIgnoreCase from AWS's docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.core import session_limits, trust
from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.core.roleplan import RoleView, plan
from chalicelib.core.session_limits import Cut, document, read
from tests.support.iam_eval import session_may

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
ROLE_ID = "AROAEXAMPLEROLEID0001"
TAG = trust.deployment_tag("switchback")
BASELINE = {"Version": "2012-10-17", "Statement": [trust.PLACEHOLDER]}


def approved(request_id: str, user: str, minutes: int = 60) -> AccessRequest:
    made = AccessRequest(
        id=request_id,
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester="U0ALICE",
        requester_name=user,
        principal_arn=f"arn:aws:iam::123456789012:user/{user}",
        duration_seconds=minutes * 60,
        reason="INC-1",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
        ends_at=iso(NOW + timedelta(minutes=minutes)),
    )
    made = transition(made, State.PENDING, made.requester, "requested", NOW)
    return transition(made, State.APPROVED, "U0BOB", "approved", NOW)


def granted(user: str = "alice"):
    view = RoleView(ROLE_ARN, ROLE_ID, BASELINE, None, timedelta(hours=1), {}, TAG)
    request = approved("AAAAAAAAA1", user)
    found = plan(view, [request], NOW, 2048)
    assert [r.id for r in found.activate] == [request.id]
    return found, request


def test_a_live_cut_ends_sessions_named_in_any_case() -> None:
    found, request = granted("alice")  # people.toml says "alice"; IAM may hold "Alice"
    end = request.ends()
    for name in ("alice", "Alice", "ALICE", "aLiCe"):
        assert session_may([found.limits], ROLE_ID, name, NOW, end - timedelta(seconds=1))
        assert not session_may([found.limits], ROLE_ID, name, NOW, end), name
    for other in ("malice", "alice2", "bob", "lice"):
        assert session_may([found.limits], ROLE_ID, other, NOW, end + timedelta(hours=1))


def test_a_closed_cut_and_the_chaining_deny_ignore_case_too() -> None:
    limits = document(
        {"Alice": Cut(closed=True), "bob": Cut(live_end=NOW + timedelta(hours=1))},
        deny_chaining=True,
        role_id=ROLE_ID,
    )
    assert not session_may([limits], ROLE_ID, "alice", NOW, NOW)
    assert not session_may([limits], ROLE_ID, "BOB", NOW, NOW, "sts:AssumeRole")
    assert session_may([limits], ROLE_ID, "BOB", NOW, NOW)


def test_written_cuts_name_the_role_by_its_id() -> None:
    found, _ = granted()
    [live, chaining] = found.limits["Statement"]
    assert live["Condition"]["StringEqualsIgnoreCase"] == {"aws:userid": f"{ROLE_ID}:alice"}
    assert chaining["Condition"] == {"StringEqualsIgnoreCase": {"aws:userid": f"{ROLE_ID}:alice"}}
    assert read(found.limits, ROLE_ID)[0] == {"alice": Cut(live_end=NOW + timedelta(hours=1))}


def test_a_cut_edited_to_name_another_role_id_is_reported_and_rebuilt() -> None:
    found, request = granted()
    edited = {
        **found.limits,
        "Statement": [
            {
                **s,
                "Condition": {
                    **s["Condition"],
                    "StringEqualsIgnoreCase": {"aws:userid": "AROAOTHERROLEID000001:alice"},
                },
            }
            for s in found.limits["Statement"]
        ],
    }
    view = RoleView(ROLE_ARN, ROLE_ID, found.trust, edited, timedelta(hours=1), found.ledger, TAG)
    active = transition(request, State.ACTIVE, "sb", "granted", NOW)
    again = plan(view, [active], NOW + timedelta(minutes=1), 2048)
    assert any("session limit of alice was missing" in note for note in again.drift), again.drift
    assert again.limits == found.limits


def test_policies_written_in_the_older_wildcard_form_upgrade_without_drift() -> None:
    found, request = granted()
    older = session_limits.document(
        {"alice": Cut(live_end=request.ends())}, deny_chaining=True, role_id=None
    )
    assert older["Statement"][0]["Condition"]["StringLike"] == {"aws:userid": "*:alice"}
    view = RoleView(ROLE_ARN, ROLE_ID, found.trust, older, timedelta(hours=1), found.ledger, TAG)
    active = transition(request, State.ACTIVE, "sb", "granted", NOW)
    again = plan(view, [active], NOW + timedelta(minutes=1), 2048)
    assert again.drift == ()
    assert again.limits == found.limits  # rewritten in the case-insensitive form
