"""The sweep at scale, on the real service against moto, counted with botocore event hooks.

1. 500 grants due over 100 roles (5 each): IAM calls per touched role in one sweep
   (target: ≤ 2 reads — GetRole, GetRolePolicy — and ≤ 2 writes — UpdateAssumeRolePolicy,
   Put/DeleteRolePolicy).
2. The same due work (50 grants over 10 roles) with 1k vs 10k finished requests kept in the
   store: sweep time (median of 3; target ratio ≤ 1.5) and items the sweep's Queries read.

    .venv/bin/python bench/sweep_scale.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_setup import (  # noqa: E402
    MovableClock,
    build_service,
    clients,
    request_and_approve,
    start_aws,
    write_policies,
)

IAM_READS = {"GetRole", "GetRolePolicy"}
IAM_WRITES = {"UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy"}


class PerRole:
    """IAM calls per role (from each call's RoleName) and the items DynamoDB Queries read."""

    def __init__(self, *boto_clients) -> None:
        self.calls: dict[str, Counter] = defaultdict(Counter)
        self.scanned = 0
        for client in boto_clients:
            client.meta.events.register("before-parameter-build.iam", self._on_iam)
            client.meta.events.register("after-call.dynamodb.Query", self._on_query)

    def _on_iam(self, event_name: str, params: dict, **_) -> None:
        if "RoleName" in params:
            self.calls[params["RoleName"]][event_name.rsplit(".", 1)[1]] += 1

    def _on_query(self, parsed: dict, **_) -> None:
        self.scanned += int(parsed.get("ScannedCount", parsed.get("Count", 0)))

    def reset(self) -> None:
        self.calls.clear()
        self.scanned = 0


def grants(service, roles: int, per_role: int) -> None:
    for r in range(roles):
        for p in range(per_role):
            request = request_and_approve(service, f"U0P{p:04d}", f"role{r:03d}", 30)
            assert request.state.value == "ACTIVE", request
            service.flush(5)


def five_hundred_over_a_hundred(folder: Path) -> None:
    from testkit.aws_calls import CallCounter

    clock = MovableClock()
    service = build_service(write_policies(folder / "a", roles=100, people=5), "scale", clock)
    started = time.perf_counter()
    grants(service, roles=100, per_role=5)
    print(
        f"setup: 500 grants approved through the service in {time.perf_counter() - started:.0f} s"
    )
    clock.advance(minutes=31)
    per_role = PerRole(*clients(service))
    counter = CallCounter().attach(*clients(service))
    started = time.perf_counter()
    report = service.sweep()
    took = time.perf_counter() - started
    assert report.expired == 500 and not report.errors, report
    reads = [sum(n for op, n in c.items() if op in IAM_READS) for c in per_role.calls.values()]
    writes = [sum(n for op, n in c.items() if op in IAM_WRITES) for c in per_role.calls.values()]
    print("sweep with 500 grants due over 100 roles (5 each):")
    print(f"  expired {report.expired}, touched roles {len(per_role.calls)}, {took:.1f} s")
    print(f"  IAM calls: {dict(sorted(counter.of('iam').items()))}")
    print(
        f"  per touched role: reads max {max(reads)} (mean {statistics.mean(reads):.2f}), "
        f"writes max {max(writes)} (mean {statistics.mean(writes):.2f})  [target ≤ 2 and ≤ 2]"
    )
    print(f"  DynamoDB calls: {dict(sorted(counter.of('dynamodb').items()))}")


def add_history(service, count: int) -> None:
    """Finished requests, as months of use leave them (through the store's own writes)."""
    from chalicelib.core.model import State, iso

    template = None
    for i in range(count):
        if template is None:
            template = request_and_approve(service, "U0P0000", "role000", 30)
            service.revoke(template.id, "U0APPROVER")
            service.flush(5)
            template = service.store.get_request(template.id)
        service.store.create_request(
            replace(template, id=f"H{i:09d}", created_at=iso(service.clock()), version=0)
        )
    assert template.state is State.REVOKED


def history_ratio(folder: Path) -> None:
    timings: dict[int, list[float]] = {1000: [], 10000: []}
    scanned: dict[int, list[int]] = {1000: [], 10000: []}
    services = {}
    for size in timings:
        clock = MovableClock()
        # Roles of their own: a service treats Switchback statements it has no record of as
        # drift, so two stores must not share roles.
        policies = write_policies(folder / f"h{size}", roles=10, people=5, prefix=f"HIST{size}X")
        service = build_service(policies, f"history{size}", clock)
        started = time.perf_counter()
        add_history(service, size)
        print(f"setup: {size} finished requests stored in {time.perf_counter() - started:.0f} s")
        services[size] = service
    for _ in range(3):
        for size, service in services.items():
            grants(service, roles=10, per_role=5)
            service.clock.advance(minutes=31)
            per_role = PerRole(*clients(service))
            started = time.perf_counter()
            report = service.sweep()
            timings[size].append(time.perf_counter() - started)
            scanned[size].append(per_role.scanned)
            assert report.expired == 50 and not report.errors, report
    small, large = (statistics.median(timings[s]) for s in (1000, 10000))
    print("sweep with 50 grants due over 10 roles, history kept in the store:")
    for size in timings:
        runs = ", ".join(f"{t * 1000:.0f}" for t in timings[size])
        print(
            f"  {size:>6} past requests: median {statistics.median(timings[size]) * 1000:.0f} ms "
            f"(runs {runs} ms); items read by the sweep's Queries {scanned[size]}"
        )
    print(f"  ratio 10k/1k: {large / small:.2f}  [target ≤ 1.5]")


def main() -> None:
    start_aws()
    with tempfile.TemporaryDirectory() as folder:
        five_hundred_over_a_hundred(Path(folder))
        history_ratio(Path(folder))


if __name__ == "__main__":
    main()
