"""Trust-policy editing: pure functions ``(policy, grants, now) -> policy``."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.model import _ID_ALPHABET, iso
from chalicelib.trust import (
    DEFAULT_TRUST_QUOTA,
    PLACEHOLDER,
    PLACEHOLDER_SID,
    Grant,
    QuotaExceeded,
    add_grants,
    check_quota,
    drop_unique_id_principals,
    free_slots,
    grant_sids,
    is_grant_statement,
    is_managed,
    keep_only,
    minified,
    remove_grants,
    statement_end,
    statement_for,
    statements,
)

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
SETTINGS = settings(max_examples=150, deadline=None)

EC2_SERVICE = {
    "Effect": "Allow",
    "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole",
}


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def grant(
    request_id: str = "7QK2M9TX4B",
    user: str = "alice",
    ends: datetime = NOW + timedelta(hours=1),
    require_mfa: bool = False,
) -> Grant:
    return Grant(
        request_id=request_id,
        principal_arn=user_arn(user),
        session_name=user,
        ends=ends,
        require_mfa=require_mfa,
    )


def document(*statement_list: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statement_list)}


PLACEHOLDER_ONLY = document(dict(PLACEHOLDER))


def foreign_of(policy: dict) -> list[dict]:
    return [s for s in statements(policy) if not is_managed(s)]


def assert_well_formed(policy: dict) -> None:
    found = statements(policy)
    assert found, "IAM rejects a trust policy without statements"
    sids = [s.get("Sid") for s in found]
    if PLACEHOLDER_SID in sids:
        assert len(found) == 1, "the placeholder never sits beside another statement"


# -- strategies -------------------------------------------------------------------------------

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=20)
request_ids = st.text(alphabet=_ID_ALPHABET, min_size=10, max_size=10)
foreign_sids = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    min_size=1,
    max_size=16,
).filter(lambda sid: not sid.startswith("Switchback"))
foreign_principals = st.one_of(
    names.map(lambda n: {"AWS": user_arn(n)}),
    names.map(lambda n: {"AWS": [user_arn(n), f"arn:aws:iam::{ACCOUNT}:root"]}),
    st.sampled_from(["ec2.amazonaws.com", "lambda.amazonaws.com"]).map(lambda s: {"Service": s}),
    st.just({"AWS": "AIDAJQABLZS4A3QDU576Q"}),  # a foreign statement with a unique id: not ours
    st.just({"Federated": "cognito-identity.amazonaws.com"}),
)
foreign_conditions = st.one_of(
    st.none(),
    names.map(lambda n: {"StringEquals": {"sts:ExternalId": n}}),
    st.just({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
    # looks like one of ours but is not: must never be treated as expired
    st.just({"DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}),
)


@st.composite
def foreign_statements(draw) -> dict:
    statement: dict = {}
    sid = draw(st.one_of(st.none(), foreign_sids))
    if sid is not None:
        statement["Sid"] = sid
    statement["Effect"] = draw(st.sampled_from(["Allow", "Deny"]))
    statement["Principal"] = draw(foreign_principals)
    statement["Action"] = draw(
        st.sampled_from(["sts:AssumeRole", ["sts:AssumeRole", "sts:TagSession"]])
    )
    condition = draw(foreign_conditions)
    if condition is not None:
        statement["Condition"] = condition
    return statement


baselines = st.one_of(
    st.lists(foreign_statements(), min_size=1, max_size=4).map(lambda s: document(*s)),
    st.just(PLACEHOLDER_ONLY),
)

# Ends from 3 days ago to 3 days ahead, sometimes exactly now, sometimes with microseconds.
offsets = st.one_of(
    st.just(0),
    st.integers(min_value=-3 * 86400, max_value=3 * 86400),
)
microseconds = st.one_of(st.just(0), st.integers(min_value=0, max_value=999_999))
nows = microseconds.map(lambda us: NOW.replace(microsecond=us))


@st.composite
def grant_lists(draw, max_size: int = 6) -> list[Grant]:
    ids = draw(st.lists(request_ids, min_size=0, max_size=max_size, unique=True))
    out = []
    for request_id in ids:
        user = draw(names)
        ends = NOW + timedelta(seconds=draw(offsets), microseconds=draw(microseconds))
        out.append(
            Grant(
                request_id=request_id,
                principal_arn=user_arn(user),
                session_name=user,
                ends=ends,
                require_mfa=draw(st.booleans()),
            )
        )
    return out


# -- properties --------------------------------------------------------------------------------


@SETTINGS
@given(baselines, grant_lists(), nows)
def test_add_grants_is_idempotent(baseline, grants, now):
    once = add_grants(baseline, grants, now)
    assert add_grants(once, grants, now) == once


@SETTINGS
@given(baselines, grant_lists(), nows)
def test_inputs_are_never_mutated(baseline, grants, now):
    before = copy.deepcopy(baseline)
    with_grants = add_grants(baseline, grants, now)
    assert baseline == before
    snapshot = copy.deepcopy(with_grants)
    remove_grants(with_grants, {g.sid for g in grants}, now)
    keep_only(with_grants, set(), now)
    drop_unique_id_principals(with_grants)
    assert with_grants == snapshot


@SETTINGS
@given(baselines, grant_lists(), nows)
def test_removing_every_grant_restores_the_baseline(baseline, grants, now):
    with_grants = add_grants(baseline, grants, now)
    restored = remove_grants(with_grants, {g.sid for g in grants}, now)
    if foreign_of(baseline):
        assert restored == baseline
    else:
        assert restored == PLACEHOLDER_ONLY
    # and it does not matter whether the grants were still running or had ended by then
    later = remove_grants(with_grants, set(), now + timedelta(days=4))
    assert later == restored


@SETTINGS
@given(baselines, grant_lists(), grant_lists(), nows)
def test_foreign_statements_are_untouched_and_keep_their_order(baseline, first, second, now):
    policy = add_grants(baseline, first, now)
    assert foreign_of(policy) == foreign_of(baseline)
    policy = add_grants(policy, second, now + timedelta(minutes=5))
    assert foreign_of(policy) == foreign_of(baseline)
    policy = remove_grants(policy, {g.sid for g in first[:2]}, now + timedelta(hours=1))
    assert foreign_of(policy) == foreign_of(baseline)
    policy = keep_only(policy, {g.sid for g in second[:1]}, now + timedelta(hours=2))
    assert foreign_of(policy) == foreign_of(baseline)
    policy = drop_unique_id_principals(policy)
    assert foreign_of(policy) == foreign_of(baseline)
    # grants go after the statements that were already there
    found = statements(add_grants(baseline, first, now))
    kinds = [is_grant_statement(s) for s in found]
    assert kinds == sorted(kinds)


@SETTINGS
@given(baselines, grant_lists(), grant_lists(), nows, st.integers(0, 4 * 86400))
def test_nothing_that_has_ended_survives_an_edit(baseline, first, second, now, later):
    policy = add_grants(baseline, first, now)
    then = now + timedelta(seconds=later)
    for edited in (
        add_grants(policy, second, then),
        remove_grants(policy, set(), then),
        keep_only(policy, grant_sids(policy), then),
    ):
        for statement in statements(edited):
            if is_grant_statement(statement):
                end = statement_end(statement)
                assert end is not None and end > then, statement


@SETTINGS
@given(baselines, grant_lists(), nows)
def test_live_grants_are_all_present_with_their_end(baseline, grants, now):
    policy = add_grants(baseline, grants, now)
    by_sid = {s["Sid"]: s for s in statements(policy) if is_grant_statement(s)}
    live = [g for g in grants if g.ends.replace(microsecond=0) > now]
    assert set(by_sid) == {g.sid for g in live}
    for g in live:
        assert by_sid[g.sid] == statement_for(g)


@SETTINGS
@given(
    baselines,
    st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "keep_only", "drop"]),
            grant_lists(max_size=3),
            st.integers(0, 7200),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_placeholder_is_alone_and_statements_never_empty(baseline, operations):
    policy, now = baseline, NOW
    seen: list[Grant] = []
    for operation, grants, step in operations:
        now += timedelta(seconds=step)
        seen += grants
        if operation == "add":
            policy = add_grants(policy, grants, now)
        elif operation == "remove":
            policy = remove_grants(policy, {g.sid for g in seen[::2]}, now)
        elif operation == "keep_only":
            policy = keep_only(policy, {g.sid for g in grants}, now)
        else:
            policy = drop_unique_id_principals(policy)
        assert_well_formed(policy)
        assert foreign_of(policy) == foreign_of(baseline)
        assert json.loads(minified(policy)) == policy


@SETTINGS
@given(baselines, grant_lists(), st.data())
def test_keep_only_drops_grant_statements_not_listed(baseline, grants, data):
    policy = add_grants(baseline, grants, NOW)
    present = sorted(grant_sids(policy))
    live = set(data.draw(st.lists(st.sampled_from(present), unique=True))) if present else set()
    kept = keep_only(policy, live | {"SwitchbackNOTPRESENT"}, NOW)
    assert grant_sids(kept) == live
    assert foreign_of(kept) == foreign_of(baseline)
    for statement in statements(kept):
        if is_grant_statement(statement):
            assert statement in statements(policy)


@SETTINGS
@given(baselines, grant_lists(), st.data())
def test_drop_unique_id_principals_only_touches_managed_statements(baseline, grants, data):
    policy = add_grants(baseline, grants, NOW)
    sids = sorted(grant_sids(policy))
    dead = set(data.draw(st.lists(st.sampled_from(sids), unique=True))) if sids else set()
    # IAM shows a deleted user's ARN as its unique id (AIDA…)
    turned = copy.deepcopy(policy)
    for statement in statements(turned):
        if statement.get("Sid") in dead:
            statement["Principal"] = {"AWS": "AIDA" + statement["Sid"][-10:] + "ABCDEFG"}
    cleaned = drop_unique_id_principals(turned)
    assert grant_sids(cleaned) == grant_sids(policy) - dead
    assert foreign_of(cleaned) == foreign_of(baseline)
    assert_well_formed(cleaned)


# -- examples ----------------------------------------------------------------------------------


def test_statement_matches_the_design_document_exactly():
    design = """{"Sid": "Switchback<REQUESTID>", "Effect": "Allow",
 "Principal": {"AWS": "arn:aws:iam::123456789012:user/alice"}, "Action": "sts:AssumeRole",
 "Condition": {"DateLessThan": {"aws:CurrentTime": "2026-11-28T11:00:00Z"},
               "StringEquals": {"sts:RoleSessionName": "alice"}}}"""
    expected = json.loads(design.replace("<REQUESTID>", "7QK2M9TX4B"))
    got = statement_for(grant("7QK2M9TX4B", "alice", datetime(2026, 11, 28, 11, tzinfo=UTC)))
    assert got == expected
    assert minified(got) == minified(expected)  # same key order too
    assert got["Sid"].isalnum()


def test_statement_with_mfa_adds_the_bool_condition_only_then():
    plain = statement_for(grant(require_mfa=False))
    mfa = statement_for(grant(require_mfa=True))
    assert "Bool" not in plain["Condition"]
    assert mfa["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}
    assert {k: v for k, v in mfa["Condition"].items() if k != "Bool"} == plain["Condition"]


def test_statement_end_is_utc_to_the_second():
    from zoneinfo import ZoneInfo

    local = datetime(2026, 11, 28, 12, 30, 15, 999_999, tzinfo=ZoneInfo("Europe/Berlin"))
    statement = statement_for(grant(ends=local))
    assert statement["Condition"]["DateLessThan"]["aws:CurrentTime"] == "2026-11-28T11:30:15Z"


def test_session_name_is_the_iam_user_name():
    g = Grant("7QK2M9TX4B", "arn:aws:iam::123456789012:user/team/bob.smith", "bob.smith", NOW)
    statement = statement_for(g)
    assert statement["Condition"]["StringEquals"] == {"sts:RoleSessionName": "bob.smith"}
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:user/team/bob.smith"}


def test_single_statement_object_is_read_as_a_list_of_one():
    baseline = {"Version": "2012-10-17", "Statement": dict(EC2_SERVICE)}
    with_grant = add_grants(baseline, [grant()], NOW)
    assert statements(with_grant) == [EC2_SERVICE, statement_for(grant())]
    restored = remove_grants(with_grant, {grant().sid}, NOW)
    assert restored == {"Version": "2012-10-17", "Statement": [EC2_SERVICE]}


def test_editing_nothing_returns_the_document_unchanged():
    # The sweep compares before/after to skip needless IAM writes.
    for baseline in (
        document(EC2_SERVICE),
        {"Version": "2012-10-17", "Statement": dict(EC2_SERVICE)},
        {"Statement": [EC2_SERVICE]},
        PLACEHOLDER_ONLY,
    ):
        assert remove_grants(baseline, {"Switchback0000000000"}, NOW) == baseline
        assert keep_only(baseline, set(), NOW) == baseline
        assert drop_unique_id_principals(baseline) == baseline
        assert add_grants(baseline, [], NOW) == baseline


def test_expired_grant_is_not_written_and_an_existing_one_is_replaced_in_place():
    old = grant("AAAAAAAAAA", ends=NOW + timedelta(minutes=10))
    other = grant("BBBBBBBBBB", user="bob")
    policy = add_grants(document(EC2_SERVICE), [old, other], NOW)
    longer = grant("AAAAAAAAAA", ends=NOW + timedelta(hours=2))
    updated = add_grants(policy, [longer], NOW)
    assert statements(updated) == [EC2_SERVICE, statement_for(longer), statement_for(other)]
    ended = grant("CCCCCCCCCC", ends=NOW)
    assert add_grants(document(EC2_SERVICE), [ended], NOW) == document(EC2_SERVICE)
    assert add_grants(PLACEHOLDER_ONLY, [ended], NOW) == PLACEHOLDER_ONLY


def test_grant_ending_within_the_current_second_is_not_written():
    now = NOW.replace(microsecond=300_000)
    almost = grant(ends=NOW.replace(microsecond=800_000))  # written as ...T10:00:00Z <= now
    assert add_grants(PLACEHOLDER_ONLY, [almost], now) == PLACEHOLDER_ONLY


def test_placeholder_replaces_the_last_grant_and_goes_when_one_comes():
    only_grant = add_grants(PLACEHOLDER_ONLY, [grant()], NOW)
    assert statements(only_grant) == [statement_for(grant())]
    emptied = remove_grants(only_grant, {grant().sid}, NOW)
    assert statements(emptied) == [PLACEHOLDER]
    assert statements(emptied)[0]["Effect"] == "Deny"
    # a document with no statements at all (as a broken edit could leave) gets the placeholder
    assert statements(remove_grants({"Version": "2012-10-17", "Statement": []}, set(), NOW)) == [
        PLACEHOLDER
    ]


def test_unreadable_managed_statement_is_kept_until_named():
    odd = {"Sid": "SwitchbackXYZ", "Effect": "Allow", "Principal": {"AWS": user_arn("x")}}
    policy = document(EC2_SERVICE, odd)
    assert remove_grants(policy, set(), NOW + timedelta(days=999)) == policy
    assert statements(remove_grants(policy, {"SwitchbackXYZ"}, NOW)) == [EC2_SERVICE]


def test_drop_unique_id_principals_examples():
    live = statement_for(grant("AAAAAAAAAA"))
    dead = dict(statement_for(grant("BBBBBBBBBB")), Principal={"AWS": "AIDAJQABLZS4A3QDU576Q"})
    foreign_dead = {"Sid": "Old", "Effect": "Allow", "Principal": {"AWS": "AIDAXXXXXXXXXXXXXXXXX"}}
    policy = document(foreign_dead, dead, live)
    assert statements(drop_unique_id_principals(policy)) == [foreign_dead, live]
    assert drop_unique_id_principals(document(dead)) == PLACEHOLDER_ONLY


def _padded_to(size: int) -> dict:
    base = document({"Sid": "Pad", "Effect": "Allow", "Principal": {"AWS": "x"}})
    missing = size - len(minified(base))
    assert missing >= 0
    base["Statement"][0]["Principal"]["AWS"] = "x" * (1 + missing)
    assert len(minified(base)) == size
    return base


def test_check_quota_at_and_over_the_limit():
    check_quota(_padded_to(2048), 2048)
    check_quota(_padded_to(2000), 2048)
    with pytest.raises(QuotaExceeded) as raised:
        check_quota(_padded_to(2049), 2048)
    assert (raised.value.size, raised.value.quota) == (2049, 2048)
    assert "2049" in str(raised.value) and "2048" in str(raised.value)
    check_quota(_padded_to(4096), 4096)
    with pytest.raises(QuotaExceeded):
        check_quota(_padded_to(4097), 4096)


def test_check_quota_counts_the_minified_document():
    policy = _padded_to(2040)
    assert len(json.dumps(policy, indent=4)) > 2048
    check_quota(policy, 2048)


@pytest.mark.parametrize(
    ("user", "require_mfa", "expected"),
    [
        ("alice", False, 7),
        ("firstname.lastname", False, 6),
        ("firstname.lastname", True, 5),
    ],
)
def test_about_six_typical_grants_fit_the_default_quota(user, require_mfa, expected):
    baseline = document(EC2_SERVICE)
    ends = NOW + timedelta(hours=1)
    sample = grant("0000000000", user, ends, require_mfa)
    slots = free_slots(baseline, sample, DEFAULT_TRUST_QUOTA)
    grants = [
        grant(f"{n:010d}".translate(str.maketrans("01", "AB")), user, ends, require_mfa)
        for n in range(20)
    ]
    fitting = 0
    while True:
        try:
            check_quota(add_grants(baseline, grants[: fitting + 1], NOW), DEFAULT_TRUST_QUOTA)
        except QuotaExceeded:
            break
        fitting += 1
    assert slots == fitting == expected


@SETTINGS
@given(baselines, names, st.booleans(), st.integers(min_value=300, max_value=4096))
def test_free_slots_is_exactly_how_many_more_fit(baseline, user, require_mfa, quota):
    ends = NOW + timedelta(hours=1)
    sample = grant("0000000000", user, ends, require_mfa)
    slots = free_slots(baseline, sample, quota)
    ids = ["".join(_ID_ALPHABET[(n >> (5 * i)) & 31] for i in range(10)) for n in range(60)]
    many = [grant(i, user, ends, require_mfa) for i in ids]

    def fits(count: int) -> bool:
        return len(minified(add_grants(baseline, many[:count], NOW))) <= quota

    assert slots < len(many)
    assert slots == 0 or fits(slots)
    assert not fits(slots + 1)


def test_grant_sid_and_helpers():
    g = grant("7QK2M9TX4B")
    assert g.sid == "Switchback7QK2M9TX4B"
    assert is_grant_statement(statement_for(g))
    assert is_managed(PLACEHOLDER) and not is_grant_statement(PLACEHOLDER)
    assert not is_managed(EC2_SERVICE)
    assert statement_end(statement_for(g)) == NOW + timedelta(hours=1)
    assert statement_end(EC2_SERVICE) is None
    assert iso(statement_end(statement_for(g))) == "2026-11-28T11:00:00Z"


def test_grant_changes_name_each_added_and_removed_grant_for_the_audit_line():
    from chalicelib.trust import grant_changes

    ends = NOW + timedelta(hours=1)
    alice = Grant("AAAAAAAAAA", "arn:aws:iam::123456789012:user/alice", "alice", ends)
    bob = Grant("BBBBBBBBBB", "arn:aws:iam::123456789012:user/bob", "bob", ends)
    before = add_grants({"Version": "2012-10-17", "Statement": [EC2_SERVICE]}, [alice], NOW)
    after = add_grants(remove_grants(before, {alice.sid}, NOW), [bob], NOW)
    assert grant_changes(before, after) == {
        "added": [
            {"request_id": "BBBBBBBBBB", "principal": bob.principal_arn, "expires": iso(ends)}
        ],
        "removed": [
            {"request_id": "AAAAAAAAAA", "principal": alice.principal_arn, "expires": iso(ends)}
        ],
    }
    assert grant_changes(after, after) == {"added": [], "removed": []}
