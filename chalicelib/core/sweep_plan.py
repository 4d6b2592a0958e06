"""Which roles a sweep pass reads from IAM, and in what order (pure; the clock is passed in).

Reading a role costs two IAM reads (GetRole for the trust policy, GetRolePolicy for the session
limits). Reading every managed role every minute is 2 reads per role per minute: ~33 a second
at 1,000 roles, where IAM throttles, and more time than a pass has. So a pass reads:

- every role with **due work** (an APPROVED grant to write, an ACTIVE grant whose end passed,
  an open grant whose holder the policies no longer allow), every pass;
- every role **marked** for a check: by the IAM change event (a hand edit or an IaC apply
  touched its trust or session-limit policy, chalicelib/core/iam_changes.py), by a step that
  left work behind (a revoke IAM did not take, a cut to age out at its time), or by a check
  that failed last pass; every pass, until the mark is cleared;
- a **stagger** of the idle roles: each role has a stable slot, a hash of its ARN modulo
  ``IDLE_EVERY``, and pass ``n`` (the minute since the epoch) reads the slot ``n % IDLE_EVERY``.
  So each idle role is read once every ``IDLE_EVERY`` passes, and the reads are spread evenly.

The figures, with ``IDLE_EVERY = 12``: an idle role costs 2 reads / 12 passes = **0.167 IAM
reads per minute** (the goal is ≤ 0.2). Drift is repaired at the first pass after its IAM
change event arrives (CloudTrail delivers it to EventBridge typically within seconds to a few
minutes), so within 5 minutes; without the event (no trail, a missed event, another account's
role without forwarding) the stagger repairs it within ``IDLE_EVERY`` passes (12 minutes),
a backstop.

The budget: a pass runs its checks oldest first (``since``: when the work became due, the
mark's time, the start of the idle slot's minute), and stops when the time left would not fit
another check (``run_pass``). Nothing is dropped by a cut: due work and marks stay in the store
until handled, so the next pass sees them again, older; the idle stream is a cursor (``Cursor``:
slot by slot, roles in ARN order), saved after the pass at the first idle role not read, so the
next pass continues where this one stopped. A cursor more than one cycle behind (the sweep did
not run for a while) restarts one cycle back: every role has a slot in those passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.core.model import AccessRequest, State

IDLE_EVERY = 12  # passes between two reads of an idle role
PASS_SECONDS = 60  # one pass a minute: the pass number is the minute since the epoch
# A pass's time for its role checks: it must end before the next pass starts.
PASS_BUDGET_SECONDS = 50.0
READS_PER_CHECK = 2  # GetRole + GetRolePolicy
# Checks are run until the time left is below this many times the longest check seen so far in
# the pass (at least ``MIN_RESERVE`` seconds): what is left is handled by the next pass.
RESERVE_FACTOR = 2.0
MIN_RESERVE = 2.0

DUE, MARKED, IDLE = "due", "marked", "idle"
_TIER = {DUE: 0, MARKED: 1, IDLE: 2}


def pass_number(now: datetime) -> int:
    """The pass a time belongs to: the minute since the epoch."""
    return int(now.timestamp()) // PASS_SECONDS


def pass_start(number: int) -> datetime:
    return datetime.fromtimestamp(number * PASS_SECONDS, UTC)


def slot_of(role_arn: str, every: int = IDLE_EVERY) -> int:
    """A role's idle slot: stable across processes and releases (not Python's ``hash``)."""
    digest = hashlib.sha256(role_arn.encode()).digest()
    return int.from_bytes(digest[:8], "big") % every


def idle_reads_per_minute(every: int = IDLE_EVERY) -> float:
    """What an idle role costs in IAM reads per minute, on average."""
    return READS_PER_CHECK / every * (60 / PASS_SECONDS)


@dataclass(frozen=True)
class Cursor:
    """Where the idle stream stands: every role in the slots of passes before ``pass_no`` has
    been read, and of pass ``pass_no``'s slot those up to ``after`` (ARN order; "" none)."""

    pass_no: int
    after: str = ""


@dataclass(frozen=True)
class Mark:
    """A role the sweep is asked to read at or after ``due_at`` (chalicelib/aws/role_marks.py);
    ``seq`` changes with every mark, so a clear never removes a newer one."""

    role_arn: str
    due_at: datetime
    why: str
    seq: int


@dataclass(frozen=True)
class Check:
    """One role to read in this pass."""

    role_arn: str
    why: str  # DUE, MARKED or IDLE: the most pressing reason
    since: datetime  # when the oldest of its reasons began
    stream: tuple[int, str] | None = None  # its place in the idle stream, if it has one


@dataclass(frozen=True)
class PassPlan:
    number: int  # the pass (minute)
    checks: tuple[Check, ...]  # oldest first
    start: Cursor  # where the idle stream began

    def roles(self) -> list[str]:
        return [c.role_arn for c in self.checks]

    def cursor_after(self, handled: Iterable[str]) -> Cursor:
        """The cursor to save once ``handled`` roles were read: at the first idle-stream place
        whose role was not (a role read for another reason counts as read)."""
        done = set(handled)
        places = sorted(c.stream for c in self.checks if c.stream is not None)
        for pass_no, arn in places:
            if arn not in done:
                before = [a for p, a in places if p == pass_no and a < arn]
                return Cursor(pass_no, before[-1] if before else "")
        return Cursor(self.number + 1)


def due_since(
    requests: Iterable[AccessRequest], now: datetime, ineligible: Iterable[str] = ()
) -> dict[str, datetime]:
    """Roles with due work, and since when: an APPROVED request (to grant), an ACTIVE one whose
    end passed (to expire), one whose holder the policies no longer allow (``ineligible``
    request ids: to end). The sweep's question today, ``r.state is APPROVED or r.ends() <=
    now``, per role."""
    ending = set(ineligible)
    found: dict[str, datetime] = {}
    for request in requests:
        if request.state not in (State.APPROVED, State.ACTIVE):
            continue
        ends = request.ends()
        if ends is not None and ends <= now:
            since = ends
        elif request.state is State.APPROVED or request.id in ending:
            since = now
        else:
            continue
        found[request.role_arn] = min(since, found.get(request.role_arn, since))
    return found


def plan_pass(
    managed: Iterable[str],
    due: Mapping[str, datetime],
    marked: Mapping[str, datetime],
    now: datetime,
    cursor: Cursor | None,
    every: int = IDLE_EVERY,
) -> PassPlan:
    """The roles this pass reads, oldest reason first: every role in ``due`` and ``marked``
    (role ARN -> since when; managed or not), and the idle stream from ``cursor`` (None: start
    at this pass) up to this pass's slot. One check per role, for its oldest reason."""
    number = pass_number(now)
    start = cursor or Cursor(number)
    if start.pass_no <= number - every:  # more than a cycle behind: one cycle covers every role
        start = Cursor(number - every + 1)
    slots: dict[int, list[str]] = {}
    for arn in sorted(set(managed)):
        slots.setdefault(slot_of(arn, every), []).append(arn)
    wanted: dict[str, Check] = {}

    def want(arn: str, why: str, since: datetime, stream: tuple[int, str] | None = None) -> None:
        known = wanted.get(arn)
        if known is None:
            wanted[arn] = Check(arn, why, since, stream)
            return
        wanted[arn] = Check(
            arn,
            min(known.why, why, key=_TIER.__getitem__),
            min(known.since, since),
            known.stream or stream,
        )

    for pass_no in range(start.pass_no, number + 1):
        for arn in slots.get(pass_no % every, []):
            if pass_no == start.pass_no and arn <= start.after:
                continue
            want(arn, IDLE, pass_start(pass_no), (pass_no, arn))
    for arn, since in marked.items():
        want(arn, MARKED, since)
    for arn, since in due.items():
        want(arn, DUE, since)
    checks = sorted(wanted.values(), key=lambda c: (c.since, _TIER[c.why], c.role_arn))
    return PassPlan(number, tuple(checks), start)


@dataclass
class PassOutcome:
    checked: list[str] = field(default_factory=list)  # read (and settled), in order
    failed: dict[str, str] = field(default_factory=dict)  # role ARN -> what went wrong
    left: list[str] = field(default_factory=list)  # not reached in this pass's time
    cursor: Cursor | None = None  # to save for the next pass

    @property
    def cut(self) -> bool:
        return bool(self.left)


# check(check, may_defer) -> False when the role's lock is held and ``may_defer``: tried again
# after the others (as the sweep does today); raising means the check failed.
CheckRole = Callable[[Check, bool], bool]


def run_pass(
    plan: PassPlan,
    check: CheckRole,
    remaining: Callable[[], float],
    monotonic: Callable[[], float],
    min_reserve: float = MIN_RESERVE,
) -> PassOutcome:
    """Run the plan's checks in order while the time left (``remaining()``, seconds) fits
    another one: stop when it is below ``RESERVE_FACTOR`` times the longest check so far (and
    at least ``min_reserve``). Roles whose lock was held are tried once more at the end. A
    failed check counts as read for the cursor (the caller marks it for the next pass), so a
    broken role never holds the idle stream up."""
    outcome = PassOutcome()
    longest = 0.0
    held: list[Check] = []
    reached = 0

    def fits() -> bool:
        return remaining() >= max(min_reserve, RESERVE_FACTOR * longest)

    def run(item: Check, may_defer: bool) -> bool:
        nonlocal longest
        started = monotonic()
        try:
            done = check(item, may_defer)
        except Exception as error:  # one broken role must not stop the others
            outcome.failed[item.role_arn] = f"{type(error).__name__}: {error}"
            done = True
        longest = max(longest, monotonic() - started)
        return done

    for item in plan.checks:
        if not fits():
            break
        reached += 1
        if run(item, True):
            outcome.checked.append(item.role_arn)
        else:
            held.append(item)
    for item in held:
        if not fits():
            outcome.left.append(item.role_arn)
            continue
        run(item, False)
        outcome.checked.append(item.role_arn)
    outcome.left += [c.role_arn for c in plan.checks[reached:]]
    outcome.cursor = plan.cursor_after(outcome.checked)
    return outcome


def worst_drift_delay(every: int = IDLE_EVERY, event: bool = True) -> timedelta:
    """The longest a hand edit stays unrepaired when passes keep up: with the IAM change event,
    the pass after it arrives (plus the event's own delivery); without it, a whole stagger."""
    passes = 1 if event else every
    return timedelta(seconds=passes * PASS_SECONDS)
