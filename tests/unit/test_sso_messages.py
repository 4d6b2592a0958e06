"""The granted message for an IAM Identity Center person: how to switch from their Identity
Center session (console link, CLI, a profile chained from their SSO profile with the session
name pinned), and that such a session lasts at most one hour."""

from __future__ import annotations

from chalicelib.core.identity import SsoIdentity
from chalicelib.core.model import AccessRequest, State
from chalicelib.notify import messages

ALICE = SsoIdentity("123456789012", "Operator", "alice@example.com", "eu-west-1")


def granted(principal: str, require_mfa: bool = False) -> AccessRequest:
    return AccessRequest(
        id="ABCDEFGHJK",
        role="ec2-admin",
        role_arn="arn:aws:iam::210987654321:role/ops/AWSEC2FULLACCESS",
        requester="U0ALICE",
        requester_name="alice",
        principal_arn=principal,
        duration_seconds=3600,
        reason="INC-42",
        created_at="2026-11-28T10:00:00Z",
        approval_deadline="2026-11-28T11:00:00Z",
        approvals_required=1,
        require_mfa=require_mfa,
        state=State.ACTIVE,
        approvals=("U0BOB",),
        ends_at="2026-11-28T11:00:00Z",
    )


def test_an_identity_center_person_is_told_how_to_switch_from_their_session():
    text = messages.requester_granted(granted(ALICE.principal), None)
    assert "IAM Identity Center session as `alice@example.com`" in text
    assert "switchrole?account=210987654321&roleName=ops%2FAWSEC2FULLACCESS" in text
    assert "source_profile = <your Identity Center profile>" in text
    assert "role_session_name = alice@example.com" in text
    assert "role_arn = arn:aws:iam::210987654321:role/ops/AWSEC2FULLACCESS" in text
    assert "aws sso login --profile <your Identity Center profile>" in text
    assert "--role-session-name alice@example.com --profile" in text
    assert "at most one hour" in text and "switch again" in text
    assert "source_profile = default" not in text
    assert "MFA" not in text


def test_a_role_requiring_mfa_is_said_to_refuse_the_switch():
    text = messages.requester_granted(granted(ALICE.principal, require_mfa=True), None)
    assert "requires MFA" in text and "refused" in text


def test_an_iam_user_still_gets_the_iam_user_message():
    text = messages.requester_granted(granted("arn:aws:iam::123456789012:user/alice"), None)
    assert "source_profile = default" in text and "Identity Center" not in text


def test_the_review_page_says_who_in_words():
    from datetime import UTC, datetime

    from chalicelib.web.pages import what_approving_does

    request = granted(ALICE.principal)
    pending = AccessRequest(**{**request.__dict__, "state": State.PENDING, "ends_at": None})
    text = what_approving_does(pending, State.PENDING, datetime(2026, 11, 28, 10, tzinfo=UTC))
    assert "IAM Identity Center user alice@example.com, permission set Operator" in text
    assert "IAM user" not in text.replace("IAM Identity Center user", "")


def test_the_approvers_are_told_who_signs_in_in_words():
    pending = AccessRequest(**{**granted(ALICE.principal).__dict__, "state": State.PENDING})
    [block] = messages.approvers_new_request(pending, None, "http://x")["blocks"][:1]
    text = block["text"]["text"]
    assert (
        "*Signs in as:* IAM Identity Center user alice@example.com, permission set Operator "
        "in account 123456789012\n"
    ) in text
    assert "????" not in text and "AWSReservedSSO" not in text
    iam = granted("arn:aws:iam::123456789012:user/alice")
    text = messages.approvers_new_request(iam, None, "http://x")["blocks"][0]["text"]["text"]
    assert "Signs in as" not in text


def test_the_review_page_names_the_requester_in_words_not_by_the_pattern():
    from tests.app.test_pages import render
    from tests.unit.test_decisions import request

    page = render(request(principal_arn=ALICE.principal))
    facts = page.split("<dt>Requester</dt>", 1)[1].split("<dt>Role</dt>", 1)[0]
    assert (
        "alice (IAM Identity Center user alice@example.com, permission set Operator in "
        "account 123456789012)"
    ) in facts
    assert "????" not in facts and "AWSReservedSSO" not in facts
    iam = render(request())
    assert "<code>arn:aws:iam::123456789012:user/alice</code>" in iam
