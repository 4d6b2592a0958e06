"""A hand edit may put anything into one of this deployment's trust statements: an account
root, a role, a wildcard, a malformed string, a deleted user's unique id. The role plan must
never crash on it (a crash wedges every sweep and revoke on the role): such a principal is
drift — removed from our statements, reported, and the role keeps working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import policy_docs, trust
from chalicelib.core.model import AccessRequest, State, transition
from chalicelib.core.roleplan import RoleView, plan
from tests.support.iam_eval import can_assume, session_may
from tests.support.requests import approved

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/AWSEC2FULLACCESS"
ROLE_ID = "AROAEXAMPLEROLEID0001"
TAG = trust.deployment_tag("switchback")
EC2 = {
    "Sid": "EC2Service",
    "Effect": "Allow",
    "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
STRAYS = [
    f"arn:aws:iam::{ACCOUNT}:root",
    "arn:aws:iam::999999999999:root",
    f"arn:aws:iam::{ACCOUNT}:role/SomeOtherRole",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/SomeOtherRole/x",
    "*",
    "not an arn at all",
    "arn:aws:iam::123:user/",
    "",
    "AIDAJQABLZS4A3QDU576Q",
]


def arn(user: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{user}"


def active(request_id: str, user: str, minutes: int = 60) -> AccessRequest:
    return approved(request_id, user, NOW, minutes)


def granted_role(*requests: AccessRequest) -> tuple[RoleView, list[AccessRequest]]:
    """The role after a normal grant step of ``requests``, and the requests as ACTIVE."""
    view = RoleView(
        ROLE_ARN, ROLE_ID, {"Version": "2012-10-17", "Statement": [EC2]}, None, timedelta(hours=1)
    )
    view = RoleView(ROLE_ARN, ROLE_ID, view.trust, None, timedelta(hours=1), {}, TAG)
    first = plan(view, requests, NOW, 2048)
    assert [r.id for r in first.activate] == [r.id for r in requests]
    view = RoleView(
        ROLE_ARN, ROLE_ID, first.trust, first.limits, timedelta(hours=1), first.ledger, TAG
    )
    return view, [transition(r, State.ACTIVE, "sb", "granted", NOW) for r in first.activate]


def with_principals_added(view: RoleView, added: list[str]) -> RoleView:
    """``view`` after someone added ``added`` by hand to our (first) statement."""
    statements = policy_docs.statements(view.trust)
    edited = []
    for statement in statements:
        if trust.is_ours(statement, TAG) and added is not None:
            statement = dict(statement)
            statement["Principal"] = {"AWS": trust.principals_of(statement) + added}
            added = None
        edited.append(statement)
    return RoleView(
        view.role_arn,
        view.role_id,
        dict(view.trust, Statement=edited),
        view.limits,
        view.max_session,
        view.ledger,
        TAG,
    )


def test_user_name_reads_only_iam_user_arns() -> None:
    assert trust.user_name(arn("alice")) == "alice"
    assert trust.user_name(f"arn:aws:iam::{ACCOUNT}:user/team/ops/alice") == "alice"
    assert trust.user_name("arn:aws-us-gov:iam::123456789012:user/bob") == "bob"
    for stray in STRAYS:
        assert trust.user_name(stray) is None, stray
    assert trust.is_unique_id("AIDAJQABLZS4A3QDU576Q")
    assert not trust.is_unique_id("*") and not trust.is_unique_id("not an arn at all")


def test_each_kind_of_stray_principal_is_removed_and_reported() -> None:
    view, [grant] = granted_role(active("AAAAAAAAA1", "alice"))
    for stray in STRAYS:
        later = NOW + timedelta(minutes=5)
        found = plan(with_principals_added(view, [stray]), [grant], later, 2048)
        # The role keeps working: alice stays trusted and cut at her end, nothing fails.
        assert found.fail == () and found.expire == ()
        assert list(trust.trusted(found.trust, TAG)) == [arn("alice")], stray
        assert can_assume(found.trust, arn("alice"), "alice", later)
        assert not session_may([found.limits], ROLE_ID, "alice", NOW, grant.ends())
        assert found.trust["Statement"][0] == EC2  # foreign statements untouched
        assert any(stray in note for note in found.drift), (stray, found.drift)


def test_a_principal_string_instead_of_an_aws_map_is_drift_too() -> None:
    view, [grant] = granted_role(active("AAAAAAAAA1", "alice"))
    statements = policy_docs.statements(view.trust)
    ours = dict(statements[1], Principal="*")
    edited = RoleView(
        ROLE_ARN,
        ROLE_ID,
        dict(view.trust, Statement=[statements[0], ours]),
        view.limits,
        view.max_session,
        view.ledger,
        TAG,
    )
    found = plan(edited, [grant], NOW, 2048)
    assert found.fail == ()  # alice's trust is written again
    assert list(trust.trusted(found.trust, TAG)) == [arn("alice")]
    assert any("removed *" in note for note in found.drift), found.drift


def test_a_service_principal_added_to_our_statement_is_reported() -> None:
    view, [grant] = granted_role(active("AAAAAAAAA1", "alice"))
    statements = policy_docs.statements(view.trust)
    ours = dict(statements[1])
    ours["Principal"] = {"AWS": arn("alice"), "Service": "lambda.amazonaws.com"}
    edited = RoleView(
        ROLE_ARN,
        ROLE_ID,
        dict(view.trust, Statement=[statements[0], ours]),
        view.limits,
        view.max_session,
        view.ledger,
        TAG,
    )
    found = plan(edited, [grant], NOW, 2048)
    assert found.trust == view.trust
    assert any("other than IAM users" in note for note in found.drift), found.drift


principal_text = st.one_of(
    st.sampled_from(STRAYS),
    st.text(max_size=40),
    st.from_regex(r"arn:aws:iam::\d{12}:(root|role/[A-Za-z]{1,8}|user/[a-z]{1,8})", fullmatch=True),
    st.from_regex(r"A[A-Z]{3}[A-Z0-9]{16}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(added=st.lists(principal_text, min_size=1, max_size=6), minutes=st.integers(0, 120))
def test_no_hand_edit_of_principals_crashes_the_plan(added: list[str], minutes: int) -> None:
    view, grants = granted_role(active("AAAAAAAAA1", "alice"), active("AAAAAAAAA2", "bob", 90))
    later = NOW + timedelta(minutes=minutes)
    found = plan(with_principals_added(view, added), grants, later, 2048)
    live = {g.principal_arn for g in grants if g.ends() > later}
    # Exactly the live grants are trusted through our statements afterwards: every stray is
    # gone, whatever it was, and every live grant is kept.
    assert set(trust.trusted(found.trust, TAG)) == live
    assert {r.id for r, _ in found.fail} == set()
    assert found.trust["Statement"][0] == EC2
    # An IAM user nobody granted gets a closed cut (sessions it took are denied).
    for principal in added:
        name = trust.user_name(principal)
        if name and principal not in {g.principal_arn for g in grants}:
            assert not session_may([found.limits], ROLE_ID, name, later, later), principal
    # Every removed stray is reported.
    for principal in set(added) - live:
        if principal and not trust.is_unique_id(principal):
            assert any(principal in note for note in found.drift), (principal, found.drift)
