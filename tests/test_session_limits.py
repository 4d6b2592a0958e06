"""The SwitchbackSessionLimits policy: pure functions over per-person cuts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.session_limits import (
    INLINE_POLICY_QUOTA,
    LimitsTooLarge,
    check_quota,
    cuts_of,
    denies,
    document,
    settle,
    sid_for,
    statement_for,
)

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ROLE_ID = "AROAEXAMPLEROLEID0001"
HOUR = timedelta(hours=1)
MAX_SESSION = timedelta(hours=1)
SETTINGS = settings(max_examples=200, deadline=None)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def userid(name: str) -> str:
    return f"{ROLE_ID}:{name}"


def test_statement_is_the_design_documents_deny():
    assert statement_for(ROLE_ID, "alice", at(60)) == {
        "Sid": "SwitchbackSessionLimitalice2bd806c9T20261128T110000",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:userid": f"{ROLE_ID}:alice"},
            "DateLessThan": {"aws:TokenIssueTime": "2026-11-28T11:00:00Z"},
            "DateGreaterThan": {"aws:CurrentTime": "2026-11-28T11:00:00Z"},
        },
    }


def test_sids_are_alphanumeric_and_tell_names_that_clean_up_alike_apart():
    first, second = sid_for("a.b", NOW), sid_for("a-b", NOW)
    assert first.isalnum() and second.isalnum() and first != second


def test_a_live_cut_ends_sessions_at_the_second_and_spares_later_ones():
    policy = document(None, settle({}, {"alice": at(60)}, {}, NOW, MAX_SESSION), ROLE_ID)
    issued = at(5)
    assert not denies(policy, userid("alice"), issued, at(60))  # the last second is allowed
    assert denies(policy, userid("alice"), issued, at(60) + timedelta(seconds=1))
    assert not denies(policy, userid("alice"), at(61), at(90))  # issued after: another grant
    assert not denies(policy, userid("bob"), issued, at(90))  # only alice


def test_overlapping_grants_keep_the_latest_end():
    cuts = settle({"alice": [at(60)]}, {"alice": at(120)}, {}, NOW, MAX_SESSION)
    assert cuts == {"alice": [at(120)]}
    # the earlier grant ending (or being revoked) while a later one is live changes nothing
    assert settle(cuts, {"alice": at(120)}, {"alice": at(30)}, at(30), MAX_SESSION) == cuts


def test_revoke_with_no_other_live_grant_moves_the_cut_to_now():
    cuts = settle({"alice": [at(60)]}, {}, {"alice": at(10)}, at(10), MAX_SESSION)
    assert cuts == {"alice": [at(10)]}


def test_a_live_cut_left_without_any_grant_is_drift_and_ends_now():
    assert settle({"alice": [at(60)]}, {}, {}, at(10), MAX_SESSION) == {"alice": [at(10)]}


def test_a_closed_cut_stays_until_no_session_from_before_it_can_live():
    cuts = {"alice": [at(0)]}
    assert settle(cuts, {}, {}, at(59), MAX_SESSION) == cuts
    assert settle(cuts, {}, {}, at(60), MAX_SESSION) == {}


def test_a_new_grant_keeps_the_closed_cut_so_revoked_sessions_stay_dead():
    revoked = settle({"alice": [at(60)]}, {}, {"alice": at(10)}, at(10), MAX_SESSION)
    regranted = settle(revoked, {"alice": at(80)}, {}, at(20), MAX_SESSION)
    assert regranted == {"alice": [at(10), at(80)]}
    policy = document(None, regranted, ROLE_ID)
    assert denies(policy, userid("alice"), at(5), at(21))  # from before the revoke: dead
    assert not denies(policy, userid("alice"), at(20), at(79))  # the new grant's session
    assert denies(policy, userid("alice"), at(20), at(81))
    # when the new grant has ended too, one closed cut is left
    assert settle(regranted, {}, {}, at(81), MAX_SESSION) == {"alice": [at(80)]}


def test_document_round_trips_and_keeps_foreign_statements_first():
    foreign = {"Sid": "Ops", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    previous = {"Version": "2012-10-17", "Statement": [foreign]}
    cuts = {"bob": [at(5)], "alice": [at(-5), at(60)]}
    policy = document(previous, cuts, ROLE_ID)
    assert policy["Statement"][0] == foreign
    assert cuts_of(policy) == cuts
    assert document(policy, cuts, ROLE_ID) is policy  # unchanged: no write
    assert document(previous, {}, ROLE_ID) is previous
    assert document(None, {}, ROLE_ID) is None  # nothing left: delete the policy


def test_unreadable_managed_statements_are_dropped_on_the_next_write():
    broken = {"Sid": "SwitchbackSessionLimitX", "Effect": "Deny", "Action": "*", "Resource": "*"}
    assert cuts_of({"Statement": [broken]}) == {}
    assert document({"Statement": [broken]}, {}, ROLE_ID) is None


def test_quota_counts_the_minified_document():
    cuts = {f"user{i:03d}": [at(60)] for i in range(60)}
    policy = document(None, cuts, ROLE_ID)
    with pytest.raises(LimitsTooLarge) as raised:
        check_quota(policy)
    assert raised.value.quota == INLINE_POLICY_QUOTA
    assert "SwitchbackSessionLimits" in str(raised.value)
    size = len(json.dumps(policy, separators=(",", ":")))
    check_quota(policy, size)  # at the limit: fine
    check_quota(None)


def test_about_thirty_five_people_fit():
    statement = statement_for(ROLE_ID, "firstname.lastname", NOW)
    per_person = len(json.dumps(statement, separators=(",", ":"))) + 1
    assert 30 <= INLINE_POLICY_QUOTA // per_person <= 45


# -- properties --------------------------------------------------------------------------------
names = st.sampled_from(["alice", "bob", "carol", "dave.o"])
minutes = st.integers(min_value=-180, max_value=180)
cut_maps = st.dictionaries(names, st.lists(minutes.map(at), min_size=1, max_size=2))


@SETTINGS
@given(
    cut_maps,
    st.dictionaries(names, st.integers(1, 240).map(at)),
    st.dictionaries(names, minutes.map(at)),
)
def test_settled_cuts_keep_every_promise(current, live, ended):
    result = settle(current, live, ended, NOW, MAX_SESSION)
    for name, cuts in result.items():
        assert cuts == sorted(set(cuts)) and 1 <= len(cuts) <= 2
        assert [c for c in cuts if c > NOW] == ([live[name]] if name in live else [])
        assert all(c + MAX_SESSION > NOW for c in cuts)
    policy = document(None, result, ROLE_ID)
    for name, end in live.items():
        # a live grant's sessions are never cut before its end, and always right after it
        assert not denies(policy, userid(name), NOW, end)
        assert denies(policy, userid(name), NOW, end + timedelta(seconds=1))
    for name in set(current) | set(ended):
        if name in live:
            continue
        # Nobody without a live grant keeps a session past now. Sessions can only have been
        # issued while trust lasted, so before their latest end (or now, if that is later).
        cut = min(max(current.get(name, []) + ([ended[name]] if name in ended else [])), NOW)
        if cut + MAX_SESSION > NOW:
            assert denies(policy, userid(name), cut - timedelta(seconds=1), at(1))


@SETTINGS
@given(
    cut_maps,
    st.dictionaries(names, st.integers(1, 240).map(at)),
    st.dictionaries(names, minutes.map(at)),
)
def test_settle_is_idempotent(current, live, ended):
    once = settle(current, live, ended, NOW, MAX_SESSION)
    assert settle(once, live, ended, NOW, MAX_SESSION) == once
    assert cuts_of(document(None, once, ROLE_ID)) == once
