"""Trust-policy editing: pure functions, property-tested, and read by an independent evaluator."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.policy_docs import fits, minified, statements
from chalicelib.core.trust import (
    DEFAULT_TRUST_QUOTA,
    LADDER,
    MAX_TRUST_LATENESS,
    PLACEHOLDER,
    SESSION_NAME_PIN,
    Grant,
    QuotaExceeded,
    build,
    deployment_tag,
    free_slots,
    is_ours,
    lateness,
    statement_for,
    trusted,
)
from tests.support.iam_eval import can_assume

TAG = deployment_tag("switchback")
OTHER = deployment_tag("switchback-dev")
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
EC2 = {
    "Sid": "EC2Service",
    "Effect": "Allow",
    "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole",
}
BREAK_GLASS = {
    "Sid": "SwitchbackBreakGlassAdmins",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/oncall"},
    "Action": "sts:AssumeRole",
}


def arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def grant(name: str, minutes: int, mfa: bool = False) -> Grant:
    return Grant("R" + name[:9], arn(name), name, NOW + timedelta(minutes=minutes), mfa)


names = st.text("abcdefghij", min_size=1, max_size=8)
grant_lists = st.lists(st.builds(grant, names, st.integers(-60, 720), st.booleans()), max_size=12)
other_deployment = build(
    {"Version": "2012-10-17", "Statement": [EC2]}, OTHER, [grant("zed", 90)], NOW, 10**6
)["Statement"][-1]
baselines = st.sampled_from(
    [
        {"Version": "2012-10-17", "Statement": [EC2]},
        {"Version": "2012-10-17", "Statement": [EC2, BREAK_GLASS, other_deployment]},
        {"Version": "2012-10-17", "Statement": [dict(PLACEHOLDER)]},
        {"Version": "2012-10-17", "Statement": EC2},  # a lone statement as an object
    ]
)


def foreign(policy: dict) -> list[dict]:
    return [s for s in statements(policy) if not is_ours(s, TAG) and s != PLACEHOLDER]


@settings(max_examples=150)
@given(baselines, grant_lists)
def test_build_is_idempotent_and_never_mutates_its_input(baseline, grants):
    before = copy.deepcopy(baseline)
    once = build(baseline, TAG, grants, NOW, 10**6)
    assert baseline == before
    assert build(once, TAG, grants, NOW, 10**6) == once


@settings(max_examples=150)
@given(baselines, grant_lists, grant_lists)
def test_foreign_statements_are_untouched_and_keep_their_order(baseline, first, second):
    step = build(build(baseline, TAG, first, NOW, 10**6), TAG, second, NOW, 10**6)
    assert foreign(step) == foreign(baseline)


@settings(max_examples=150)
@given(baselines, grant_lists)
def test_granting_nobody_restores_the_baseline(baseline, grants):
    restored = build(build(baseline, TAG, grants, NOW, 10**6), TAG, [], NOW, 10**6)
    assert foreign(restored) == foreign(baseline)
    assert [s for s in statements(restored) if is_ours(s, TAG)] == []
    assert statements(restored)  # never empty: the placeholder stands in


@settings(max_examples=150)
@given(baselines, grant_lists, st.integers(0, 4 * 3600))
def test_each_live_holder_is_trusted_in_their_window_only_by_their_own_name(
    baseline, grants, offset
):
    """Read by the independent evaluator: inside their window, a holder may assume with their
    own user name as session name and with no other; nobody else is ever let in."""
    policy = build(baseline, TAG, grants, NOW, 10**6)
    at = NOW + timedelta(seconds=offset)
    latest: dict[str, datetime] = {}
    for g in grants:
        if g.ends > NOW:
            latest[g.session_name] = max(latest.get(g.session_name, g.ends), g.ends)
    for g in grants:
        name = g.session_name
        if name in latest and at < latest[name]:
            assert can_assume(policy, arn(name), name, at, mfa=True)
        if name not in latest or at >= latest[name] + MAX_TRUST_LATENESS:
            assert not can_assume(policy, arn(name), name, at, mfa=True)
        assert not can_assume(policy, arn(name), name + "x", at, mfa=True)  # another name
    assert not can_assume(policy, arn("mallory"), "mallory", at, mfa=True)
    assert not can_assume(policy, arn("alice", "999999999999"), "alice", at, mfa=True)


def test_the_statement_shape():
    alice = grant("alice", 30)
    assert statement_for(alice, TAG) == {
        "Sid": f"Switchback{TAG}A20261128103000",
        "Effect": "Allow",
        "Principal": {"AWS": arn("alice")},
        "Action": "sts:AssumeRole",
        "Condition": {
            "DateLessThan": {"aws:CurrentTime": "2026-11-28T10:30:00Z"},
            "StringEquals": {"sts:RoleSessionName": SESSION_NAME_PIN},
        },
    }
    mfa = statement_for(grant("alice", 30, mfa=True), TAG)
    assert mfa["Sid"] == f"Switchback{TAG}M20261128103000"
    assert mfa["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}


def test_people_with_one_end_share_one_statement_and_each_keeps_their_own_session_name():
    policy = build({"Statement": [EC2]}, TAG, [grant("alice", 30), grant("bob", 30)], NOW, 2048)
    [_, shared] = policy["Statement"]
    assert shared["Principal"] == {"AWS": [arn("alice"), arn("bob")]}
    at = NOW + timedelta(minutes=5)
    assert can_assume(policy, arn("alice"), "alice", at)
    assert not can_assume(policy, arn("alice"), "bob", at)  # bob's session name: never
    assert not can_assume(policy, arn("bob"), "alice", at)
    assert not can_assume(policy, arn("alice"), "alice", NOW + timedelta(minutes=30))


def test_only_this_deployments_exact_sids_are_ours():
    ours = statement_for(grant("alice", 30), TAG)
    assert is_ours(ours, TAG) and not is_ours(ours, OTHER)
    for sid in (
        "SwitchbackBreakGlassAdmins",
        "SwitchbackPlaceholder",
        "Switchback0123456789",
        ours["Sid"] + "0",
        ours["Sid"].lower(),
    ):
        assert not is_ours({"Sid": sid}, TAG)
    assert deployment_tag("switchback") != deployment_tag("switchback-prod")


def test_the_finest_step_that_fits_is_chosen_and_lateness_stays_bounded():
    # Thirty people, each ending a minute after the last: one statement each does not fit.
    people = [grant(f"person{n:02d}", 60 + n) for n in range(30)]
    policy = build({"Version": "2012-10-17", "Statement": [EC2]}, TAG, people, NOW, 2048)
    assert fits(policy, 2048)
    assert set(trusted(policy, TAG)) == {g.principal_arn for g in people}
    assert timedelta(0) < lateness(policy, TAG, people) <= MAX_TRUST_LATENESS
    roomy = build({"Version": "2012-10-17", "Statement": [EC2]}, TAG, people[:3], NOW, 2048)
    assert lateness(roomy, TAG, people[:3]) == timedelta(0)  # exact ends while they fit
    assert LADDER[0] == 1 and LADDER[-1] is None


def test_a_document_exactly_at_the_quota_fits_and_one_character_over_does_not():
    policy = build(
        {"Version": "2012-10-17", "Statement": [EC2]}, TAG, [grant("alice", 30)], NOW, 10**6
    )
    size = len(minified(policy))
    assert fits(policy, size) and not fits(policy, size - 1)
    assert build(policy, TAG, [grant("alice", 30)], NOW, size) == policy
    with pytest.raises(QuotaExceeded) as raised:
        build(
            {"Version": "2012-10-17", "Statement": [EC2]}, TAG, [grant("alice", 30)], NOW, size - 1
        )
    assert raised.value.size == size and "over the" in str(raised.value)


def test_a_grant_ending_now_is_not_trusted():
    assert trusted(build({"Statement": [EC2]}, TAG, [grant("alice", 0)], NOW, 2048), TAG) == {}


@given(st.integers(300, 2048), st.booleans())  # up to 2,048 the trust policy binds first
def test_free_slots_is_exactly_how_many_more_fit(quota, mfa):
    base = build(
        {"Version": "2012-10-17", "Statement": [EC2]}, TAG, [grant("carol", 50)], NOW, 10**6
    )
    sample = grant("alice", 60, mfa)
    slots = free_slots(base, sample.principal_arn, sample.ends, quota, TAG, mfa)
    more = [grant(f"a{n:04d}", 60, mfa) for n in range(slots + 1)]  # alice-sized ARNs
    holders = [grant("carol", 50)]
    if slots:
        build(base, TAG, holders + more[:slots], NOW, quota)  # fits
    with pytest.raises(QuotaExceeded):
        build(base, TAG, holders + more, NOW, quota)


def test_thirty_people_fit_the_default_quota_beside_a_foreign_statement():
    policy = {"Version": "2012-10-17", "Statement": [EC2]}
    assert free_slots(policy, arn("firstname.lastname"), NOW, DEFAULT_TRUST_QUOTA, TAG) >= 30
    assert json.dumps(policy)  # unchanged input


def test_free_slots_at_4096_is_bounded_by_the_session_limit_policy():
    policy = {"Version": "2012-10-17", "Statement": [EC2]}
    sample = grant("alice", 60)
    slots = free_slots(policy, sample.principal_arn, sample.ends, 4096, TAG)
    assert 30 <= slots < 100  # the trust policy alone would take about 95
