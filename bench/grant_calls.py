"""AWS API calls per lifecycle step — request, approve (grant), expire, revoke — counted with
botocore event hooks on the service's real boto3 clients against moto, not estimated.

    .venv/bin/python bench/grant_calls.py
"""

from __future__ import annotations

import sys
import tempfile
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


def show(step: str, counter) -> None:
    for service_name in ("iam", "dynamodb"):
        calls = counter.of(service_name)
        detail = ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "none"
        print(f"  {step:8} {service_name:8} {sum(calls.values()):3} calls: {detail}")


def main() -> None:
    from datetime import timedelta

    from chalicelib.core.commands import RequestCommand
    from testkit.aws_calls import CallCounter

    start_aws()
    clock = MovableClock()
    with tempfile.TemporaryDirectory() as folder:
        service = build_service(write_policies(Path(folder), roles=1, people=3), "calls", clock)
        counter = CallCounter().attach(*clients(service))
        # Warm up (the quota is read once per account and process), then let it expire.
        request_and_approve(service, "U0P0000", "role000", 30)
        clock.advance(minutes=31)
        service.sweep()
        print("API calls per lifecycle step (one grant on a role; Slack messages stored in the")
        print("outbox and sent inline; IAM throttling would add retries, not calls):")

        counter.reset()
        command = RequestCommand("role000", timedelta(minutes=30), "INC-1 bench")
        request = service.submit("U0P0001", command, None)
        service.flush(5)
        show("request", counter)

        counter.reset()
        service.approve(request.id, "U0APPROVER")
        service.flush(5)
        show("approve", counter)

        counter.reset()
        clock.advance(minutes=31)
        service.sweep()
        show("expire", counter)

        request = request_and_approve(service, "U0P0002", "role000", 30)
        service.flush(5)
        clock.advance(minutes=5)
        counter.reset()
        service.revoke(request.id, "U0P0002")
        service.flush(5)
        show("revoke", counter)

        counter.reset()
        service.sweep()
        show("idle", counter)
        print("           (a sweep with nothing due: per managed role GetRole + GetRolePolicy)")


if __name__ == "__main__":
    main()
