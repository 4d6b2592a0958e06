"""What publishing events to EventBridge costs in AWS calls, per lifecycle step: the same
request's life (request, approve and grant, revoke, expire) with and without an event bus,
counted on every AWS call the service makes (botocore hooks) against moto, not estimated.

    .venv/bin/python bench/event_calls.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_setup import MovableClock, build_service, start_aws, write_policies  # noqa: E402


def life(bus: str | None, folder: Path, calls: Counter) -> dict[str, Counter]:
    import boto3

    from chalicelib.aws import clients as aws
    from chalicelib.core.commands import RequestCommand

    if bus:
        os.environ["SWITCHBACK_EVENT_BUS"] = bus
        boto3.client("events").create_event_bus(Name=bus)
    else:
        os.environ.pop("SWITCHBACK_EVENT_BUS", None)
    clock = MovableClock()
    service = build_service(folder, f"events-{bus or 'none'}", clock)
    aws.observe(lambda action, params, assumed: calls.update([action]))  # after the reset
    command = RequestCommand("role000", timedelta(minutes=30), "INC-1 bench")
    warm = service.submit("U0P0000", command, None)  # the quota is read once per process
    service.approve(warm.id, "U0APPROVER")
    service.flush(5)
    steps: dict[str, Counter] = {}

    def step(name: str, run) -> None:
        calls.clear()
        run()
        service.flush(5)
        steps[name] = Counter(calls)

    ids: list[str] = []
    step("request", lambda: ids.append(service.submit("U0P0001", command, None).id))
    step("approve", lambda: service.approve(ids[0], "U0APPROVER"))
    step("revoke", lambda: service.revoke(ids[0], "U0P0001"))
    second = service.approve(service.submit("U0P0002", command, None).id, "U0APPROVER")
    service.flush(5)
    clock.advance(minutes=31)
    step("expire", service.sweep)
    assert second.state.value == "ACTIVE"
    return steps


def main() -> None:
    start_aws()
    calls: Counter = Counter()
    with tempfile.TemporaryDirectory() as folder:
        policies = write_policies(Path(folder), roles=1, people=3)
        without = life(None, policies, calls)
        with_bus = life("bench-events", policies, calls)
    print("AWS calls per lifecycle step, without an event bus -> with one:")
    for name in without:
        before, after = without[name], with_bus[name]
        added = after - before
        shown = ", ".join(f"+{n} {a}" for a, n in sorted(added.items())) or "none"
        print(
            f"  {name:8} {sum(before.values()):3} -> {sum(after.values()):3} calls "
            f"(events published: {after['events:PutEvents']}; {shown})"
        )
    print("Each event: one PutEvents entry, one more item in the change's own transaction, and")
    print("one more item in the write that records the step's messages sent (no extra call once")
    print("the step sends two messages or more); nothing is read to publish it.")


if __name__ == "__main__":
    main()
