"""The session-limit policy (pure): its shape, reading it back, the ledger, the size limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.policy_docs import size
from chalicelib.core.session_limits import (
    CHAINING_ACTIONS,
    INLINE_POLICY_QUOTA,
    LONGEST_SESSION,
    Cut,
    LimitsTooLarge,
    aged,
    check_quota,
    closed,
    cuts,
    document,
    grant_statements,
    ledger_from_json,
    ledger_to_json,
    policy_name,
    read,
    shared_bound,
    trusted,
    weaker,
)
from tests.support.iam_eval import session_may

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ROLE_ID = "AROAEXAMPLEROLEID0001"


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def test_one_grant_writes_a_live_cut_and_the_chaining_deny():
    [live, chaining] = grant_statements("alice", at(60), deny_chaining=True)
    assert live == {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringLike": {"aws:userid": "*:alice"},
            "DateGreaterThanEquals": {"aws:CurrentTime": "2026-11-28T11:00:00Z"},
        },
    }
    assert chaining["Action"] == CHAINING_ACTIONS
    assert grant_statements("alice", at(60), deny_chaining=False) == [live]
    assert policy_name("D1234567") == "SwitchbackSessionLimitsD1234567"


def test_the_userid_pattern_matches_only_that_session_name():
    policy = document({"alice": Cut(closed=True)}, deny_chaining=True)
    assert not session_may([policy], ROLE_ID, "alice", NOW, at(1))
    for other in ("malice", "alice2", "bob", "Alice"):
        assert session_may([policy], ROLE_ID, other, NOW, at(1))


cut_values = st.builds(
    Cut,
    live_end=st.one_of(st.none(), st.integers(1, 600).map(at)),
    closed=st.booleans(),
    closed_before=st.one_of(st.none(), st.integers(-600, 0).map(at)),
).map(lambda c: Cut(c.live_end, c.closed, c.closed_before if c.closed else None))
people_cuts = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), cut_values)


@given(people_cuts, st.booleans())
def test_reading_a_document_back_gives_its_cuts(person_cuts, deny_chaining):
    person_cuts = {n: c for n, c in person_cuts.items() if c.live_end or c.closed}
    found, chaining = read(document(person_cuts, deny_chaining))
    assert found == person_cuts
    assert chaining == (
        {n for n, c in person_cuts.items() if c.live_end} if deny_chaining else set()
    )
    for name, cut in person_cuts.items():
        assert weaker(found.get(name), cut) is None
        assert weaker(None, cut) == "missing"


def test_the_ledger_keeps_closed_cuts_12_hours_past_the_last_trust():
    ledger = trusted({}, "alice", at(60))
    ledger = closed(ledger, "alice", at(60))
    assert ledger["alice"].keep == at(60) + LONGEST_SESSION
    assert cuts(ledger, {}, at(61)) == {"alice": Cut(closed=True)}
    assert aged(ledger, {}, at(60) + LONGEST_SESSION) == {}
    assert ledger_from_json(ledger_to_json(ledger)) == ledger
    # somebody Switchback never trusted (a hand edit): 12 hours and the propagation margin
    stranger = closed({}, "mallory", NOW)
    assert stranger["mallory"].keep > NOW + LONGEST_SESSION


def test_a_closed_cut_beside_a_new_grant_denies_exactly_the_old_sessions():
    ledger = closed(trusted({}, "alice", at(30)), "alice", at(30))
    [(name, cut)] = cuts(ledger, {"alice": (at(45), at(105))}, at(46)).items()
    assert cut.closed_before is not None and at(30) <= cut.closed_before <= at(45)
    policy = document({name: cut}, deny_chaining=True)
    assert not session_may([policy], ROLE_ID, "alice", at(29), at(50))  # old window
    assert session_may([policy], ROLE_ID, "alice", at(45), at(50))  # new window


@given(st.integers(0, 86400), st.integers(0, 86400))
def test_the_shared_bound_lies_between_the_old_trust_and_the_new_start(a, b):
    lo, hi = NOW + timedelta(seconds=a), NOW + timedelta(seconds=b)
    bound = shared_bound(lo, hi)
    assert bound <= hi and (bound >= lo or lo >= hi)


def test_check_quota_at_and_one_over_the_limit():
    policy = document({f"p{n:03d}": Cut(closed=True) for n in range(10)}, True)
    exact = size(policy)
    check_quota(policy, exact)
    with pytest.raises(LimitsTooLarge):
        check_quota(policy, exact - 1)
    check_quota(None)
    assert INLINE_POLICY_QUOTA == 10_240
