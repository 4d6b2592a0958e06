"""Which roles a sweep pass reads (chalicelib/core/sweep_plan.py): due and marked roles every
pass, each idle role once every IDLE_EVERY passes, and a pass cut short by its time budget
leaves nothing behind for good."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import sweep_plan
from chalicelib.core.model import AccessRequest, State, iso
from chalicelib.core.sweep_plan import (
    DUE,
    IDLE,
    IDLE_EVERY,
    MARKED,
    Cursor,
    due_since,
    plan_pass,
    run_pass,
    slot_of,
)

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def arns(count: int) -> list[str]:
    return [f"arn:aws:iam::123456789012:role/R{i:04d}" for i in range(count)]


def minute(n: int) -> datetime:
    return T0 + timedelta(minutes=n, seconds=7)


class Simulated:
    """Passes run one after another as the sweep would run them, the cursor carried between
    them; ``capacity`` checks fit in a pass (None: all)."""

    def __init__(self, roles: list[str], every: int = IDLE_EVERY) -> None:
        self.roles = roles
        self.every = every
        self.cursor: Cursor | None = None
        self.checked: list[tuple[int, list[str]]] = []  # (pass, roles read in it)

    def run(self, n: int, due=None, marked=None, capacity: int | None = None):
        plan = plan_pass(self.roles, due or {}, marked or {}, minute(n), self.cursor, self.every)
        budget = [capacity if capacity is not None else len(plan.checks)]

        def check(item, may_defer):
            budget[0] -= 1
            return True

        # Each check "takes" one unit; the budget is what is left of ``capacity``.
        outcome = run_pass(plan, check, lambda: budget[0], lambda: 0.0, min_reserve=1)
        self.cursor = outcome.cursor
        self.checked.append((n, outcome.checked))
        return plan, outcome


def test_each_idle_role_is_read_once_in_every_stagger_and_the_slots_are_even() -> None:
    roles = arns(1000)
    sim = Simulated(roles)
    for n in range(3 * IDLE_EVERY):
        sim.run(n)
    reads = Counter(arn for _, checked in sim.checked for arn in checked)
    assert set(reads.values()) == {3}
    per_pass = [len(checked) for _, checked in sim.checked]
    assert max(per_pass) <= 1.25 * len(roles) / IDLE_EVERY, per_pass
    reads_per_role_minute = 2 * sum(reads.values()) / len(roles) / (3 * IDLE_EVERY)
    assert reads_per_role_minute <= 0.2
    assert sweep_plan.idle_reads_per_minute() == reads_per_role_minute


def test_the_slot_is_stable_across_processes() -> None:
    # sha256, not Python's salted hash(): every Lambda process agrees on a role's slot.
    assert slot_of("arn:aws:iam::123456789012:role/AWSEC2FULLACCESS") == 4
    assert slot_of("arn:aws:iam::123456789012:role/AWSEC2FULLACCESS", 7) == 0


def test_due_and_marked_roles_are_read_every_pass_and_first() -> None:
    roles = arns(50)
    sim = Simulated(roles)
    due = {roles[3]: minute(0) - timedelta(minutes=2)}
    marked = {roles[7]: minute(0) - timedelta(seconds=30)}
    for n in range(5):
        plan, outcome = sim.run(n, due=due, marked=marked)
        assert plan.checks[0].role_arn == roles[3] and plan.checks[0].why == DUE
        assert plan.checks[1].role_arn == roles[7] and plan.checks[1].why == MARKED
        assert {roles[3], roles[7]} <= set(outcome.checked)


def test_a_role_both_due_and_in_its_idle_slot_is_read_once_and_moves_the_cursor() -> None:
    roles = arns(40)
    sim = Simulated(roles)
    in_slot = [a for a in roles if slot_of(a) == sweep_plan.pass_number(minute(0)) % IDLE_EVERY]
    plan, outcome = sim.run(0, due={in_slot[0]: minute(0)})
    assert Counter(plan.roles())[in_slot[0]] == 1
    assert plan.checks[[c.role_arn for c in plan.checks].index(in_slot[0])].why == DUE
    assert outcome.cursor == Cursor(sweep_plan.pass_number(minute(0)) + 1)


def test_a_cut_pass_leaves_the_rest_of_the_stream_to_the_next_one() -> None:
    roles = arns(120)
    sim = Simulated(roles)
    plan, outcome = sim.run(0, capacity=3)
    assert outcome.cut and len(outcome.checked) == 3
    first = sweep_plan.pass_number(minute(0))
    assert outcome.cursor == Cursor(first, outcome.checked[-1])
    plan, outcome = sim.run(1)
    # What the cut left comes first (it waited longest), then this pass's own slot.
    assert plan.checks[0].since < plan.checks[-1].since
    left = {c.role_arn for c in plan.checks if c.stream and c.stream[0] == first}
    assert left == {a for a in roles if slot_of(a) == first % IDLE_EVERY} - set(sim.checked[0][1])
    assert outcome.cursor == Cursor(first + 2)


def test_a_sweep_that_did_not_run_for_an_hour_reads_every_role_once() -> None:
    roles = arns(60)
    sim = Simulated(roles)
    sim.run(0)
    plan, _ = sim.run(60)
    assert sorted(plan.roles()) == roles  # one cycle back, not sixty passes' worth


def test_several_passes_in_one_minute_read_its_slot_once() -> None:
    # Locally the sweep runs every SWITCHBACK_SWEEP_SECONDS; the IAM reads follow the minute.
    roles = arns(60)
    sim = Simulated(roles)
    _, first = sim.run(0)
    _, second = sim.run(0)
    assert first.checked and not second.checked


def test_a_failing_check_does_not_hold_the_stream_up() -> None:
    roles = arns(36)
    plan = plan_pass(roles, {}, {}, minute(0), None)
    broken = plan.checks[0].role_arn

    def check(item, may_defer):
        if item.role_arn == broken:
            raise RuntimeError("AccessDenied")
        return True

    outcome = run_pass(plan, check, lambda: 100.0, lambda: 0.0)
    assert outcome.failed == {broken: "RuntimeError: AccessDenied"}
    assert outcome.cursor == Cursor(plan.number + 1)


def test_a_held_lock_is_tried_again_after_the_others() -> None:
    roles = arns(36)
    plan = plan_pass(roles, {roles[0]: minute(-60)}, {}, minute(0), None)
    calls = []

    def check(item, may_defer):
        calls.append((item.role_arn, may_defer))
        return not (item.role_arn == roles[0] and may_defer)

    outcome = run_pass(plan, check, lambda: 100.0, lambda: 0.0)
    assert calls[0] == (roles[0], True) and calls[-1] == (roles[0], False)
    assert outcome.checked[-1] == roles[0] and not outcome.left


def test_the_budget_stops_before_a_check_that_would_not_fit() -> None:
    roles = arns(24)
    plan = plan_pass(roles, {a: minute(0) for a in roles}, {}, minute(0), None)
    clock = [0.0]

    def check(item, may_defer):
        clock[0] += 3.0  # each check takes 3 s
        return True

    outcome = run_pass(plan, check, lambda: 20.0 - clock[0], lambda: clock[0])
    # 20 s: a check runs while at least twice the longest so far (6 s) is left: after 4
    # checks 8 s are left, a 5th runs; then 5 s: stop.
    assert len(outcome.checked) == 5 and len(outcome.left) == 19


def test_due_since_is_the_sweeps_question_per_role() -> None:
    def request(rid: str, role: str, state: State, ends: datetime) -> AccessRequest:
        return AccessRequest(
            id=rid,
            requester="U0ALICE",
            requester_name="alice",
            principal_arn="arn:aws:iam::123456789012:user/alice",
            role="r",
            role_arn=role,
            reason="INC-1",
            duration_seconds=3600,
            state=state,
            created_at=iso(ends - timedelta(hours=1)),
            approval_deadline=iso(ends),
            approvals_required=1,
            ends_at=iso(ends),
        )

    a, b, c, d = arns(4)
    now = minute(0).replace(second=0)
    found = due_since(
        [
            request("1", a, State.ACTIVE, now - timedelta(minutes=3)),  # ended: due since then
            request("2", a, State.ACTIVE, now - timedelta(minutes=1)),
            request("3", b, State.APPROVED, now + timedelta(hours=1)),  # to grant: due now
            request("4", c, State.ACTIVE, now + timedelta(hours=1)),  # running: not due
            request("5", d, State.ACTIVE, now + timedelta(hours=1)),  # holder removed
        ],
        now,
        ineligible={"5"},
    )
    assert found == {a: now - timedelta(minutes=3), b: now, d: now}


role_sets = st.integers(min_value=1, max_value=40).map(arns)


@settings(max_examples=60, deadline=None)
@given(
    roles=role_sets,
    every=st.integers(min_value=1, max_value=8),
    start=st.integers(min_value=0, max_value=500),
    skips=st.lists(st.integers(min_value=1, max_value=3), min_size=20, max_size=40),
    picks=st.lists(st.sets(st.integers(min_value=0, max_value=39), max_size=5), max_size=40),
)
def test_with_time_to_spare_every_role_is_read_once_every_stagger_and_due_ones_every_pass(
    roles, every, start, skips, picks
) -> None:
    """Passes a minute or a few apart (the schedule may skip one): every role is read in each
    window of ``every`` minutes, and every due or marked role in its own pass."""
    sim = Simulated(roles, every)
    n = start
    seen: dict[str, list[int]] = {a: [] for a in roles}
    for i, step in enumerate(skips):
        wanted = {roles[p % len(roles)] for p in (picks[i] if i < len(picks) else ())}
        half = len(wanted) // 2
        due = {a: minute(n) for a in sorted(wanted)[:half]}
        marked = {a: minute(n) for a in sorted(wanted)[half:]}
        _, outcome = sim.run(n, due=due, marked=marked)
        assert wanted <= set(outcome.checked)
        assert not outcome.left
        for arn in outcome.checked:
            seen[arn].append(n)
        n += step
    # Each role is read at the first pass at or after each minute of its slot (the schedule
    # may skip minutes; several slots' roles then wait for the same pass).
    base = sweep_plan.pass_number(minute(0))
    ran = [p for p, _ in sim.checked]
    for arn, passes in seen.items():
        slot = slot_of(arn, every)
        for m in range(start, ran[-1] + 1):
            if (base + m) % every == slot:
                first_pass_then = min(p for p in ran if p >= m)
                assert first_pass_then in passes, (arn, m, passes)


@settings(max_examples=60, deadline=None)
@given(
    roles=role_sets,
    every=st.integers(min_value=1, max_value=6),
    loads=st.lists(
        st.tuples(
            st.sets(st.integers(min_value=0, max_value=39), max_size=8),
            st.integers(min_value=1, max_value=10),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_a_budget_cut_never_starves_a_role(roles, every, loads) -> None:
    """However tight each pass's budget (at least one check) while due work keeps arriving,
    everything left over is read once the load lets up: nothing wanted is ever dropped, and a
    role waits behind only what was wanted before it."""
    sim = Simulated(roles, every)
    wanted_at: dict[str, int] = {}  # role -> the pass its oldest unanswered want began
    n = 0
    for picks, capacity in loads:
        due = {roles[p % len(roles)]: minute(n) for p in picks}
        for arn in due:
            wanted_at.setdefault(arn, n)
        # Due work stays due (in the store) until a pass reads its role.
        still = {a: minute(t) for a, t in wanted_at.items()}
        plan, outcome = sim.run(n, due=still, capacity=capacity)
        assert len(outcome.checked) == min(capacity, len(plan.checks))
        # Oldest first: nothing read in this pass became wanted after something it left.
        if outcome.left:
            newest_read = max(c.since for c in plan.checks if c.role_arn in outcome.checked)
            oldest_left = min(c.since for c in plan.checks if c.role_arn in outcome.left)
            assert newest_read <= oldest_left
        for arn in outcome.checked:
            wanted_at.pop(arn, None)
        n += 1
    # The load lets up: passes with room for a slot and one more role drain what is left. The
    # idle stream's backlog (at most every role) shrinks by at least one role a pass, so after
    # len(roles) passes it is gone, and one more stagger reads every role. (Stopping as soon as
    # the due work is drained would leave idle roles still queued, not starved.)
    room = max(Counter(slot_of(a, every) for a in roles).values()) + 1
    limit = n + len(roles) + every + 1
    while n < limit:
        still = {a: minute(t) for a, t in wanted_at.items()}
        _, outcome = sim.run(n, due=still, capacity=room)
        for arn in outcome.checked:
            wanted_at.pop(arn, None)
        n += 1
    assert not wanted_at, wanted_at
    assert sim.cursor == Cursor(sweep_plan.pass_number(minute(n - 1)) + 1)
    # And the idle stream caught up: every role was read in the last stagger.
    recent = {a for p, checked in sim.checked if p >= n - every for a in checked}
    assert recent == set(roles)


def test_idle_is_the_reason_of_a_role_with_nothing_else() -> None:
    plan = plan_pass(arns(1), {}, {}, minute(0), Cursor(0))
    assert [c.why for c in plan.checks] == [IDLE]
