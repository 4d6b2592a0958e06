"""Scoped grants: the role file's scopes, asking for one, an approver narrowing a request, and
what the session-limit policy then says — read by the independent evaluator (tests/iam_eval.py):
in-scope actions allowed, everything else denied, other people untouched, gone after the window,
the quota guard counting scope statements."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.aws.requests import request_from, request_item
from chalicelib.core import events, policy_docs, session_limits, trust
from chalicelib.core.catalog import RoleSpec, Scope
from chalicelib.core.commands import BadCommand, RequestCommand, parse_command
from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.model import AccessRequest, State, iso, transition
from chalicelib.core.roleplan import RoleView, plan
from chalicelib.core.scope_windows import ScopeWindow, person_scope
from chalicelib.core.scopes import action_problem, check_scope, narrow, scoped
from chalicelib.core.session_limits import grant_statements
from chalicelib.policies import PolicyError, load_catalog
from tests.support.iam_eval import session_may

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
ROLE_ID = "AROAEXAMPLEROLEID0001"
TAG = trust.deployment_tag("switchback")
READ_ONLY = Scope("read-only", ("ec2:Describe*", "ec2:Get*", "cloudwatch:GetMetricData"))
BUCKETS = Scope("buckets", ("s3:GetObject", "s3:ListBucket"))
ROLE = RoleSpec(
    name="ec2-admin",
    role_arn=ROLE_ARN,
    description="",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB", "U0CAROL"),
    scopes=(READ_ONLY, BUCKETS),
)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def pending(request_id: str = "R000000001", user: str = "alice", minutes: int = 60):
    made = AccessRequest(
        id=request_id,
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester=f"U0{user.upper()}",
        requester_name=user,
        principal_arn=f"arn:aws:iam::123456789012:user/{user}",
        duration_seconds=minutes * 60,
        reason="INC-7 incident review",
        created_at=iso(NOW),
        approval_deadline=iso(NOW + timedelta(hours=1)),
        approvals_required=1,
    )
    return transition(made, State.PENDING, made.requester, "requested", NOW)


def approved(request_id, user, when, minutes, scope: Scope | None = None) -> AccessRequest:
    made = scoped(pending(request_id, user, minutes), scope)
    return transition(
        made,
        State.APPROVED,
        "U0BOB",
        "approved",
        when,
        ends_at=iso(when + timedelta(minutes=minutes)),
    )


class Role:
    """One role stepped through plans as the engine does, IAM's copy kept here."""

    def __init__(self, limits_quota: int = session_limits.INLINE_POLICY_QUOTA):
        self.view = RoleView(
            ROLE_ARN, ROLE_ID, {"Statement": []}, None, timedelta(hours=1), {}, TAG
        )
        self.requests: dict[str, AccessRequest] = {}
        self.limits_quota = limits_quota
        self.last = None

    def step(self, now: datetime):
        fed = [r for r in self.requests.values() if r.state in (State.APPROVED, State.ACTIVE)]
        planned = plan(self.view, fed, now, 4096, limits_quota=self.limits_quota)
        self.view = replace(
            self.view, trust=planned.trust, limits=planned.limits, ledger=planned.ledger
        )
        for request in planned.activate:
            self.requests[request.id] = transition(request, State.ACTIVE, "sb", "granted", now)
        for request in planned.expire:
            self.requests[request.id] = transition(request, State.EXPIRED, "sb", "expired", now)
        for request, reason in planned.fail:
            self.requests[request.id] = transition(
                request, State.FAILED, "sb", "failed", now, failure=reason
            )
        self.last = planned
        return planned

    def grant(self, request_id, user, now, minutes, scope=None) -> AccessRequest:
        self.requests[request_id] = approved(request_id, user, now, minutes, scope)
        self.step(now)
        return self.requests[request_id]

    def may(self, user: str, action: str, when: datetime, issued: datetime = NOW) -> bool:
        return session_may([self.view.limits], ROLE_ID, user, issued, when, action)


# -- the role file ----------------------------------------------------------------------------
PEOPLE = """
[people.U0ALICE]
name = "alice"
aws = "arn:aws:iam::123456789012:user/alice"
[people.U0BOB]
name = "bob"
aws = "arn:aws:iam::123456789012:user/bob"
"""
ROLE_FILE = """
role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
max_duration = "4h"
requesters = ["*"]
approvers = ["U0BOB"]
"""


def load(tmp_path: Path, extra: str):
    (tmp_path / "people.toml").write_text(PEOPLE)
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "ec2-admin.toml").write_text(ROLE_FILE + extra)
    return load_catalog(tmp_path)


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load(tmp_path, extra)
    return caught.value.problems


def test_scopes_load_in_file_order_with_their_description(tmp_path):
    catalog = load(
        tmp_path,
        """
[scopes.read-only]
description = "Look, don't touch"
actions = ["ec2:Describe*", "EC2:describe*", "ec2:Get?onsoleOutput"]
[scopes.buckets]
actions = ["s3:GetObject"]
""",
    )
    role = catalog.role("ec2-admin")
    assert [s.name for s in role.scopes] == ["read-only", "buckets"]
    # IAM compares actions without regard to case: the second spelling adds nothing.
    assert role.scope("read-only") == Scope(
        "read-only", ("ec2:Describe*", "ec2:Get?onsoleOutput"), "Look, don't touch"
    )
    assert role.max_schedule_ahead == timedelta(days=7)


def test_a_role_without_scopes_has_none():
    assert (
        RoleSpec("x", ROLE_ARN, "", timedelta(hours=1), timedelta(hours=1), ("*",), ()).scopes == ()
    )


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ('["*"]', "is not an IAM action: write it as service:Action"),
        ('["*:Describe*"]', "name the service in full"),
        ('["ec2:Describe Instances"]', "is not an IAM action pattern"),
        ('["ec2:"]', "is not an IAM action pattern"),
        ('["arn:aws:s3:::bucket"]', "is not an IAM action pattern"),
        ("[1]", "1 is not text"),
        ("[]", "required: a list of IAM actions"),
        ('"ec2:Describe*"', "required: a list of IAM actions"),
    ],
)
def test_a_bad_action_is_refused_naming_the_file_and_field(tmp_path, actions, expected):
    [problem] = problems(tmp_path, f"[scopes.read-only]\nactions = {actions}\n")
    assert problem.startswith(f"{tmp_path / 'roles' / 'ec2-admin.toml'}: scopes.read-only.actions:")
    assert expected in problem


def test_other_scope_mistakes_are_named(tmp_path):
    found = problems(
        tmp_path,
        """
[scopes.Read_Only]
actions = ["ec2:Describe*"]
[scopes.buckets]
actions = ["s3:GetObject"]
colour = "red"
""",
    )
    assert any("scopes.Read_Only: the name must be lower-case" in p for p in found)
    assert any("scopes.buckets.colour: unknown field" in p for p in found)


def test_too_many_actions_in_one_scope(tmp_path):
    listed = ", ".join(f'"ec2:Describe{n}"' for n in range(51))
    [problem] = problems(tmp_path, f"[scopes.big]\nactions = [{listed}]\n")
    assert "scopes.big.actions: 51 actions, at most 50" in problem


@pytest.mark.parametrize(
    "pattern",
    ["ec2:DescribeInstances", "ec2:Describe*", "s3:Get?bject", "aws-marketplace:View*", "iam:*"],
)
def test_iam_action_patterns_are_accepted(pattern):
    assert action_problem(pattern) is None


# -- asking for a scope -------------------------------------------------------------------------
def test_the_command_carries_the_scope_name():
    command = parse_command("request ec2-admin 1h scope=Read-Only INC-7 incident review")
    assert command == RequestCommand(
        "ec2-admin", timedelta(hours=1), "INC-7 incident review", scope="read-only"
    )
    assert parse_command("request ec2-admin scope=read-only INC-7").duration is None


def test_an_empty_or_repeated_scope_is_refused():
    assert isinstance(parse_command("request ec2-admin 1h scope= INC-7"), BadCommand)
    assert isinstance(parse_command("request ec2-admin 1h scope=a scope=b INC-7"), BadCommand)


def test_an_unknown_scope_is_refused_with_the_roles_scope_names():
    with pytest.raises(Refused) as caught:
        check_scope(ROLE, "write-all")
    assert caught.value.reason is Refusal.UNKNOWN_SCOPE
    assert "`read-only`, `buckets`" in str(caught.value)
    assert check_scope(ROLE, "READ-ONLY") == READ_ONLY
    with pytest.raises(Refused, match="has no scopes"):
        check_scope(replace(ROLE, scopes=()), "read-only")


# -- narrowing ----------------------------------------------------------------------------------
def test_an_approver_narrows_a_pending_request_with_an_audit_note():
    request = pending()
    narrowed = narrow(request, "read-only", "U0BOB", at(2), ROLE)
    assert (narrowed.scope, narrowed.scope_actions) == ("read-only", READ_ONLY.actions)
    assert narrowed.state is State.PENDING
    entry = narrowed.audit[-1]
    assert (entry.actor, entry.action, entry.at) == ("U0BOB", "narrowed", iso(at(2)))
    assert entry.detail == (
        "narrowed to scope read-only: ec2:Describe*, ec2:Get*, cloudwatch:GetMetricData"
    )
    # The same scope again changes nothing; another one could widen it and is refused.
    assert narrow(narrowed, "read-only", "U0CAROL", at(3), ROLE) == narrowed
    with pytest.raises(Refused) as caught:
        narrow(narrowed, "buckets", "U0CAROL", at(3), ROLE)
    assert caught.value.reason is Refusal.ALREADY_SCOPED


def test_narrowing_is_refused_when_not_pending_unknown_or_own():
    with pytest.raises(Refused) as caught:
        narrow(pending(), "nope", "U0BOB", NOW, ROLE)
    assert caught.value.reason is Refusal.UNKNOWN_SCOPE
    with pytest.raises(Refused) as caught:
        narrow(pending(), "read-only", "U0ALICE", NOW, ROLE)
    assert caught.value.reason is Refusal.OWN_REQUEST
    denied = transition(pending(), State.DENIED, "U0BOB", "denied", NOW)
    with pytest.raises(Refused) as caught:
        narrow(denied, "read-only", "U0BOB", NOW, ROLE)
    assert caught.value.reason is Refusal.NOT_PENDING


# -- what the grant writes, read by the evaluator ----------------------------------------------
def test_a_scoped_grant_allows_its_actions_only_and_leaves_others_untouched():
    role = Role()
    role.grant("R000000001", "alice", NOW, 60, READ_ONLY)
    role.grant("R000000002", "bob", NOW, 60)
    during = at(30)
    assert role.may("alice", "ec2:DescribeInstances", during)
    assert role.may("alice", "EC2:describeinstances", during)  # IAM ignores the case
    assert role.may("alice", "cloudwatch:GetMetricData", during)
    assert not role.may("alice", "ec2:TerminateInstances", during)
    assert not role.may("alice", "s3:GetObject", during)
    assert not role.may("alice", "iam:CreateUser", during)
    # bob holds the whole role; malice (a longer name ending the same) is nobody's business.
    for action in ("ec2:TerminateInstances", "s3:GetObject", "ec2:DescribeInstances"):
        assert role.may("bob", action, during)
        assert role.may("malice", action, during)
    [scope_deny] = session_limits.read_scopes(role.view.limits)
    assert scope_deny == {
        "Effect": "Deny",
        "NotAction": ["cloudwatch:GetMetricData", "ec2:Describe*", "ec2:Get*"],
        "Resource": "*",
        # Keyed like the cuts: this role's sessions named alice, in any case.
        "Condition": {session_limits.CUT_OPERATOR: {"aws:userid": f"{role.view.role_id}:alice"}},
    }


def test_the_scope_deny_is_gone_after_the_window():
    role = Role()
    role.grant("R000000001", "alice", NOW, 60, READ_ONLY)
    assert not role.may("alice", "ec2:TerminateInstances", at(59))
    role.step(at(60))  # the sweep expires it
    assert role.requests["R000000001"].state is State.EXPIRED
    assert session_limits.read_scopes(role.view.limits) == []
    # A later grant of the whole role is not held to the old scope (only its own sessions).
    role.grant("R000000002", "alice", at(90), 60)
    assert role.may("alice", "ec2:TerminateInstances", at(100), issued=at(91))
    assert not role.may("alice", "ec2:TerminateInstances", at(100), issued=at(30))


def test_a_person_holding_the_whole_role_and_a_later_scope_is_held_to_it_from_the_first_end():
    role = Role()
    role.grant("R000000001", "alice", NOW, 60)  # whole role until 11:00
    role.grant("R000000002", "alice", at(10), 120, BUCKETS)  # buckets until 12:10
    assert role.may("alice", "ec2:TerminateInstances", at(59), issued=at(20))
    # From 11:00 on, without any step on the role in between, only the scope is left.
    assert not role.may("alice", "ec2:TerminateInstances", at(61), issued=at(20))
    assert role.may("alice", "s3:GetObject", at(61), issued=at(20))
    assert not role.may("alice", "s3:GetObject", at(130), issued=at(20))  # the live cut


def test_two_scopes_of_one_person_allow_their_union_while_both_live():
    role = Role()
    role.grant("R000000001", "alice", NOW, 60, READ_ONLY)
    role.grant("R000000002", "alice", NOW, 120, BUCKETS)
    assert role.may("alice", "ec2:DescribeInstances", at(30))
    assert role.may("alice", "s3:GetObject", at(30))
    assert not role.may("alice", "ec2:TerminateInstances", at(30))
    # After the first ends, only buckets — written ahead, no step needed.
    assert not role.may("alice", "ec2:DescribeInstances", at(61))
    assert role.may("alice", "s3:GetObject", at(61))


def test_people_with_the_same_scope_share_one_statement():
    role = Role()
    for n, user in enumerate(("alice", "carol", "dave")):
        role.grant(f"R00000000{n}", user, at(n), 60, READ_ONLY)
    [shared] = session_limits.read_scopes(role.view.limits)
    names = shared["Condition"][session_limits.CUT_OPERATOR]["aws:userid"]
    assert names == [f"{role.view.role_id}:{user}" for user in ("alice", "carol", "dave")]


def test_a_grant_whose_scope_does_not_fit_the_inline_quota_fails_with_the_reason():
    role = Role()
    role.grant("R000000001", "alice", NOW, 60)
    without_scope = policy_docs.size(role.view.limits)
    probe = Role(limits_quota=10**6)
    probe.grant("R000000001", "alice", NOW, 60)
    probe.grant("R000000002", "bob", NOW, 60)
    unscoped_two = policy_docs.size(probe.view.limits)
    # Room for bob's live cut and chaining entry, not for his scope deny as well.
    role.limits_quota = unscoped_two
    role.requests["R000000002"] = approved("R000000002", "bob", NOW, 60, READ_ONLY)
    planned = role.step(NOW)
    [(failed, reason)] = planned.fail
    assert failed.id == "R000000002"
    assert "session-limit policy would be" in reason and f"{unscoped_two}-character" in reason
    assert policy_docs.size(role.view.limits) == without_scope  # nothing of bob written
    assert planned.added == ()


def test_a_deleted_scope_deny_is_reported_and_rebuilt():
    role = Role()
    role.grant("R000000001", "alice", NOW, 60, READ_ONLY)
    limits = role.view.limits
    tampered = {**limits, "Statement": [s for s in limits["Statement"] if "NotAction" not in s]}
    role.view = replace(role.view, limits=tampered)
    planned = role.step(at(1))
    assert any("scope deny of alice was missing or changed" in d for d in planned.drift)
    assert not role.may("alice", "ec2:TerminateInstances", at(2))


def test_the_review_page_statements_include_the_scope_deny():
    live, scope, chaining = grant_statements(
        "alice", at(60), deny_chaining=True, scope_actions=READ_ONLY.actions, start=NOW
    )
    assert "NotAction" in scope and scope["Condition"] == {"StringLike": {"aws:userid": "*:alice"}}
    assert live["Action"] == "*" and chaining["Action"][0] == "sts:AssumeRole"


# -- the exact rule, for any windows ------------------------------------------------------------
SCOPES = [None, ("ec2:Describe*",), ("s3:GetObject",), ("ec2:Describe*", "s3:ListBucket")]
ACTIONS = ["ec2:DescribeInstances", "s3:GetObject", "s3:ListBucket", "ec2:RunInstances"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(1, 12), st.sampled_from(SCOPES)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 24),
)
def test_at_every_moment_of_a_window_the_union_of_the_grants_live_then_is_allowed(windows, t):
    made = [ScopeWindow(at(10 * s), at(10 * (s + d)), scope) for s, d, scope in windows]
    policy = {"Statement": session_limits.scope_statements({"alice": made})}
    moment = at(10 * t + 5)
    covering = [w.actions for w in made if w.start <= moment < w.end]
    if not covering:
        return  # outside every window: trust and cuts decide, not scopes
    for action in ACTIONS:
        allowed = session_may([policy], ROLE_ID, "alice", NOW, moment, action)
        expected = any(
            scope is None or any(action.startswith(a.rstrip("*")) for a in scope)
            for scope in covering
        )
        assert allowed == expected, (made, moment, action)


def test_person_scope_for_the_whole_role_says_nothing():
    assert person_scope([ScopeWindow(NOW, at(60), None)]) == []


# -- the request as stored and published -------------------------------------------------------
def test_the_request_keeps_its_scope_in_the_store_and_items_without_one_still_read():
    request = scoped(pending(), READ_ONLY)
    item = request_item(request)
    assert request_from(item) == request
    for field in ("scope", "scope_actions", "starts_at"):
        item.pop(field)
    old = request_from(item)
    assert (old.scope, old.scope_actions, old.starts_at) == (None, (), None)


def test_published_events_carry_the_scope():
    request = scoped(pending(), BUCKETS)
    body = events.published_detail(events.Event(events.REQUESTED, NOW, request), "x", "id")
    assert body["scope"] == {"name": "buckets", "actions": ["s3:GetObject", "s3:ListBucket"]}
    assert "starts_at" not in body
    plain = events.published_detail(events.Event(events.REQUESTED, NOW, pending()), "x", "id")
    assert "scope" not in plain
