"""What a burst of approvals costs: 20 approvers click Approve at the same instant.

Runs the approve use case (what POST /requests/{id}/approve calls) from 20 threads against a
moto server over HTTP, for several rounds, and prints the outcomes and the AWS calls it took:
DynamoDB calls per click, lost conditional writes (each one a re-read and a retry), and IAM
calls per grant (the target is one trust-policy write per grant, whatever the crowd).

    .venv/bin/python bench/approval_race.py [rounds] [quorum]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

APPROVERS = [f"U0AP{n:02d}" for n in range(1, 21)]


def write_policies(folder: Path, quorum: int) -> None:
    people = ['[people.U0REQ]\nname = "req"\naws = "arn:aws:iam::123456789012:user/req"']
    people += [
        f'[people.{a}]\nname = "ap{a[-2:]}"\naws = "arn:aws:iam::123456789012:user/ap{a[-2:]}"'
        for a in APPROVERS
    ]
    (folder / "roles").mkdir()
    (folder / "people.toml").write_text("\n".join(people) + "\n")
    (folder / "roles" / "crowd.toml").write_text(
        'role_arn = "arn:aws:iam::123456789012:role/CROWD"\nmax_duration = "1h"\n'
        f'requesters = ["U0REQ"]\napprovers = {json.dumps(APPROVERS)}\n'
        f"approvals_required = {quorum}\n"
    )


class CallCounter:
    """Counts AWS API calls by service and operation, and conditional writes that lost."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.lost_writes = 0
        self._lock = threading.Lock()

    def watch(self, client) -> None:
        client.meta.events.register("after-call", self._after)

    def _after(self, http_response, parsed, model, **_) -> None:
        service = model.service_model.service_name
        with self._lock:
            self.calls[f"{service}.{model.name}"] += 1
            if parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                self.lost_writes += 1

    def reset(self) -> None:
        self.calls.clear()
        self.lost_writes = 0


def burst(service, request_id: str, outcomes: Counter) -> None:
    """Every approver calls approve at the same instant, each from its own thread."""
    from chalicelib.core.decisions import Refused
    from chalicelib.core.errors import LockBusy

    start = threading.Barrier(len(APPROVERS))
    lock = threading.Lock()

    def click(approver: str) -> None:
        start.wait()
        try:
            service.approve(request_id, approver)
            outcome = "counted"
        except Refused:
            outcome = "refused"
        except LockBusy:
            outcome = "busy (try again)"
        finally:
            service.flush(5)
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=click, args=(a,)) for a in APPROVERS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def report(rounds: int, quorum: int, totals: Counter, outcomes: Counter, lost: int, burst_ms):
    clicks = rounds * len(APPROVERS)

    def calls(prefix: str) -> tuple[int, str]:
        mine = {k[len(prefix) :]: v for k, v in sorted(totals.items()) if k.startswith(prefix)}
        return sum(mine.values()), ", ".join(f"{k} {v}" for k, v in mine.items())

    iam_total, iam_detail = calls("iam.")
    dynamo_total, dynamo_detail = calls("dynamodb.")
    writes = totals["iam.UpdateAssumeRolePolicy"]
    print(f"{rounds} rounds x {len(APPROVERS)} simultaneous approvals, quorum {quorum}")
    print(f"outcomes:                {dict(outcomes)}")
    print(f"grants:                  {rounds} (one per round, each ACTIVE with {quorum} approvals)")
    print(f"trust-policy writes:     {writes} ({writes / rounds:.2f} per grant)")
    print(f"IAM calls:               {iam_total} ({iam_detail})")
    print(f"DynamoDB calls:          {dynamo_total} ({dynamo_total / clicks:.2f} per click)")
    print(f"  by operation:          {dynamo_detail}")
    print(f"lost conditional writes: {lost} ({lost / clicks:.2f} per click; each re-read, retried)")
    median = sorted(burst_ms)[len(burst_ms) // 2]
    print(f"burst wall time:         median {median:.0f} ms (moto on this machine; informational)")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    quorum = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    import logging

    from moto.server import ThreadedMotoServer

    from testkit.moto_guard import serialise_dynamodb_writes

    serialise_dynamodb_writes()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("switchback").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    from testkit.slack_standin import SlackReceiver

    slack = SlackReceiver()
    with tempfile.TemporaryDirectory() as folder:
        write_policies(Path(folder), quorum)
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            SWITCHBACK_STAGE="local",
            SWITCHBACK_POLICIES=folder,
            SLACK_SIGNING_SECRET="bench",
            SWITCHBACK_COOKIE_KEY="bench",
            SLACK_WEBHOOK_URL=f"{slack.url}/webhook/approvers",
            POWERTOOLS_LOG_LEVEL="ERROR",  # the figures, not every event
        )
        from chalicelib import wiring
        from chalicelib.core.commands import parse_command
        from chalicelib.policies import load_catalog
        from tools.local_stack import ensure_aws_resources

        ensure_aws_resources(load_catalog(folder), "switchback")
        counter = CallCounter()
        from chalicelib.aws import clients as aws

        original = aws.client

        def watched_client(service_name: str, *args, **kwargs):
            made = original(service_name, *args, **kwargs)
            counter.watch(made)
            return made

        aws.client = watched_client
        service = wiring.service("http://127.0.0.1")
        totals: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        lost = 0
        burst_ms = []
        for _ in range(rounds):
            request = service.submit("U0REQ", parse_command("request crowd 30m INC-1 bench"), None)
            service.flush(5)
            counter.reset()
            started = time.perf_counter()
            burst(service, request.id, outcomes)
            burst_ms.append((time.perf_counter() - started) * 1000)
            final = service.get(request.id)
            assert final.state.value == "ACTIVE" and len(final.approvals) == quorum, final
            totals.update(counter.calls)
            lost += counter.lost_writes
        report(rounds, quorum, totals, outcomes, lost, burst_ms)
    slack.close()
    moto.stop()


if __name__ == "__main__":
    main()
