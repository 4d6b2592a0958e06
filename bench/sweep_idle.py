"""The idle sweep at 10, 100 and 1,000 managed roles, on the real service against moto, with
the pass plan of chalicelib/core/sweep_plan.py (due and marked roles every pass, each idle
role once every IDLE_EVERY passes), counted with botocore event hooks.

1. IAM reads per role per minute over 30 passes a minute apart, nothing due
   (target: ≤ 0.2; reading every role every pass, as the sweep does today, is 2).
2. Drift repair delay: a hand edit removes a live grant's trust statement; with the IAM change
   event's mark the next pass repairs it, without it the role's idle slot does.
3. 1,000 roles with 100 due (grants ended): one pass's time, and the time per role on moto,
   against the pass budget.

``planned_pass`` below runs the production sweep pass (``service.sweep()``) and times each
role's check by its reason (due, marked, idle).

    .venv/bin/python bench/sweep_idle.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_setup import (  # noqa: E402
    ROOT,
    MovableClock,
    build_service,
    clients,
    request_and_approve,
    start_aws,
    write_policies,
)
from sweep_scale import IAM_READS, PerRole  # noqa: E402

from chalicelib.core.sweep_plan import PASS_BUDGET_SECONDS as BUDGET_SECONDS  # noqa: E402

PASSES = 30
SAMPLES = ROOT / "tests" / "adapters" / "fixtures" / "cloudtrail"


@dataclass
class PassFigures:
    checked: list[str]
    drift: list[str] = field(default_factory=list)
    seconds: float = 0.0
    per_check: dict[str, list[float]] = field(default_factory=dict)  # why -> seconds each
    left: int = 0


def planned_pass(service, marks=None, budget: float = BUDGET_SECONDS) -> PassFigures:
    """One sweep pass, the production one (``service.sweep()``: the role checks of
    chalicelib/usecases/role_checks.py, with lapse, reminders and the outbox around them),
    each role's check timed and sorted by its reason. ``marks``: the service's role checks
    (kept for the callers; the pass reads them itself)."""
    from chalicelib.core.model import State

    sweeper = service.sweeper
    settle = sweeper._settle_role
    now = service.clock()
    marked = set(service.context.role_checks.due(now))
    figures = PassFigures([])

    def timed(role_arn, known, when, report, may_defer):
        began = time.perf_counter()
        try:
            return settle(role_arn, known, when, report, may_defer)
        finally:
            due = any(r.state is State.APPROVED or r.ends() <= when for r in known)
            why = "due" if due else "marked" if role_arn in marked else "idle"
            figures.per_check.setdefault(why, []).append(time.perf_counter() - began)
            figures.checked.append(role_arn)

    sweeper._settle_role = timed
    started = time.perf_counter()
    try:
        report = service.sweep(lambda: budget + 25.0 - (time.perf_counter() - started))
    finally:
        del sweeper._settle_role
    figures.seconds = time.perf_counter() - started
    figures.drift = list(report.drift)
    figures.left = report.roles_left
    return figures


def setup(folder: Path, roles: int, label: str):
    clock = MovableClock()
    clock.now = clock.now.replace(second=5)
    policies = write_policies(folder / label, roles=roles, people=5, prefix=f"IDLE{label}X")
    service = build_service(policies, f"idle{label}", clock)
    return service, service.context.role_checks  # RoleMarks, as wiring.py builds it


def iam_reads(per_role: PerRole) -> int:
    return sum(n for c in per_role.calls.values() for op, n in c.items() if op in IAM_READS)


def idle_reads(folder: Path) -> None:
    from chalicelib.core.sweep_plan import IDLE_EVERY as every

    print(f"IAM reads per managed role per minute, nothing due, {PASSES} passes a minute apart:")
    for size in (10, 100, 1000):
        service, marks = setup(folder, size, str(size))
        per_role = PerRole(*clients(service))
        times, per_pass = [], []
        for _ in range(PASSES):
            before = iam_reads(per_role)
            times.append(planned_pass(service, marks).seconds)
            per_pass.append(iam_reads(per_role) - before)
            service.clock.advance(minutes=1)
        reads = iam_reads(per_role)
        print(
            f"  {size:>5} roles: {reads / size / PASSES:.3f} reads per role per minute "
            f"[target ≤ 0.2; every role every pass: 2]; {reads} reads, per pass "
            f"{min(per_pass)}–{max(per_pass)}; each role read {_read_counts(per_role, size)} "
            f"times (stagger: {PASSES // every}–{-(-PASSES // every)}); pass time mean "
            f"{statistics.mean(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
        )


def _read_counts(per_role: PerRole, size: int) -> str:
    counts = [c.get("GetRole", 0) for c in per_role.calls.values()]
    unread = size - len(counts)
    return f"{min(counts) if not unread else 0}–{max(counts)}"


def hand_edit(service, role_arn: str) -> None:
    """Someone puts the role's trust policy back to what it was before Switchback (console)."""
    iam = service.writer.iam.client_for_role(role_arn)
    name = role_arn.rsplit("/", 1)[1]
    document = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(document, str):  # boto3 decodes it; some endpoints leave it URL-encoded JSON
        document = json.loads(document)
    kept = [s for s in document["Statement"] if not str(s.get("Sid", "")).startswith("Switchback")]
    if not kept:
        kept = [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    iam.update_assume_role_policy(
        RoleName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": kept})
    )


def drift_delay(folder: Path) -> None:
    from chalicelib.core import sweep_plan

    sample = json.loads((SAMPLES / "hand-edit-trust.json").read_text())
    print("drift repair delay (a live grant's trust statement removed by hand), 100 roles:")
    for with_event in (True, False):
        label = "event" if with_event else "noevent"
        service, marks = setup(folder, 100, label)
        request = request_and_approve(service, "U0P0000", "role000", 60)
        role_arn = request.role_arn
        # Worst case for the stagger: the edit lands just after the role's idle slot was read.
        every = sweep_plan.IDLE_EVERY
        while sweep_plan.pass_number(service.clock()) % every != sweep_plan.slot_of(role_arn):
            planned_pass(service, marks)
            service.clock.advance(minutes=1)
        planned_pass(service, marks)
        service.clock.advance(seconds=20)
        hand_edit(service, role_arn)
        edited = service.clock()
        if with_event:
            event = json.loads(json.dumps(sample))
            event["detail"]["requestParameters"]["roleName"] = role_arn.rsplit("/", 1)[1]
            event["detail"]["eventTime"] = edited.strftime("%Y-%m-%dT%H:%M:%SZ")
            marked = service.role_changed(event)  # what the sweep function does with it
            assert marked == role_arn, marked
        service.clock.advance(seconds=40)
        passes = 0
        while True:
            passes += 1
            figures = planned_pass(service, marks)
            if figures.drift:
                break
            assert passes <= every + 1, "never repaired"
            service.clock.advance(minutes=1)
        delay = service.clock() - edited
        how = "with the IAM change event's mark" if with_event else "without (the stagger)"
        print(
            f"  {how}: repaired at pass {passes} after the edit, {delay.total_seconds():.0f} s "
            f"after it (model: {sweep_plan.worst_drift_delay(event=with_event)})"
        )


def due_at_scale(folder: Path) -> None:
    service, marks = setup(folder, 1000, "due")
    started = time.perf_counter()
    for r in range(100):
        request = request_and_approve(service, "U0P0000", f"role{r * 10:03d}", 5)
        assert request.state.value == "ACTIVE", request
    service.flush(5)
    print(f"setup: 1,000 roles, 100 grants in {time.perf_counter() - started:.0f} s")
    for _ in range(5):  # the passes until the grants end, a minute apart as scheduled
        planned_pass(service, marks)
        service.clock.advance(minutes=1)
    per_role = PerRole(*clients(service))
    figures = planned_pass(service, marks)
    reads = iam_reads(per_role)
    due = figures.per_check.get("due", [])
    idle = figures.per_check.get("idle", [])
    print("one pass over 1,000 roles with 100 due (grants ended):")
    print(
        f"  {len(figures.checked)} roles read ({len(due)} due, {len(idle)} idle), "
        f"{reads} IAM reads, {figures.seconds:.1f} s [budget {BUDGET_SECONDS:.0f} s], "
        f"left for the next pass: {figures.left}"
    )
    print(
        f"  time per role on moto: due {statistics.mean(due) * 1000:.0f} ms, "
        f"idle {statistics.mean(idle) * 1000:.0f} ms; all 1,000 read every pass (before the "
        f"plan) would take ~{(statistics.mean(idle) * 900 + sum(due)):.0f} s"
    )


def main() -> None:
    start_aws()
    with tempfile.TemporaryDirectory() as folder:
        idle_reads(Path(folder))
        drift_delay(Path(folder))
        due_at_scale(Path(folder))


if __name__ == "__main__":
    main()
