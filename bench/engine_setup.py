"""Shared by bench/grant_calls.py and bench/sweep_scale.py: the real service on an embedded moto
server, a quiet local Slack, a movable clock, and API-call counters on the real clients."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT = "123456789012"


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# A moto server in a process of its own (``start_aws(apart=True)``), guarded as the local
# stack's embedded one is; it prints its URL and runs until its parent closes its stdin.
_MOTO_APART = """
import logging, sys
sys.path.insert(0, sys.argv[1])
from moto.server import ThreadedMotoServer
from testkit.moto_guard import serialise_dynamodb_writes
serialise_dynamodb_writes()
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
"""


def start_aws(apart: bool = False) -> None:
    """A moto server; boto3 in this process talks to it over HTTP. Embedded in this process
    (as ``make run`` embeds it beside the app), or ``apart`` in a process of its own."""
    import logging

    if apart:
        import subprocess

        process = subprocess.Popen(
            [sys.executable, "-c", _MOTO_APART, str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        url = process.stdout.readline().strip()
    else:
        from moto.server import ThreadedMotoServer

        from testkit.moto_guard import serialise_dynamodb_writes

        serialise_dynamodb_writes()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        # The figures, not the events and metric lines of every call.
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )


def write_policies(folder: Path, roles: int, people: int, prefix: str = "BENCH") -> Path:
    """``roles`` role files (IAM roles ``<prefix>000``…) and ``people`` requesters."""
    (folder / "roles").mkdir(parents=True, exist_ok=True)
    (folder / "people.toml").write_text(
        "".join(
            f'[people.U0P{i:04d}]\nname = "p{i:04d}"\n'
            f'aws = "arn:aws:iam::{ACCOUNT}:user/p{i:04d}"\n'
            for i in range(people)
        )
        + f'[people.U0APPROVER]\nname = "approver"\naws = "arn:aws:iam::{ACCOUNT}:user/approver"\n'
    )
    for r in range(roles):
        (folder / "roles" / f"role{r:03d}.toml").write_text(
            f'role_arn = "arn:aws:iam::{ACCOUNT}:role/{prefix}{r:03d}"\n'
            'description = "bench"\nmax_duration = "4h"\ndefault_duration = "1h"\n'
            'requesters = ["*"]\napprovers = ["U0APPROVER"]\n'
        )
    return folder


def build_service(policies: Path, table: str, clock: MovableClock, webhook: str | None = None):
    """The service exactly as the Lambda builds it (chalicelib.wiring), on the bench's clock;
    Slack is a quiet local stand-in unless ``webhook`` names the approvers' channel."""
    from chalicelib import wiring
    from chalicelib.policies import load_catalog
    from tools.console_slack import ConsoleSlack
    from tools.local_stack import ensure_aws_resources

    slack = ConsoleSlack(out=lambda _text: None).start()
    os.environ.update(
        SWITCHBACK_STAGE="local",
        SWITCHBACK_TABLE=table,
        SWITCHBACK_POLICIES=str(policies),
        SLACK_SIGNING_SECRET="bench",
        SWITCHBACK_COOKIE_KEY="bench",
        SWITCHBACK_BASE_URL="http://127.0.0.1:9",
        SLACK_WEBHOOK_URL=webhook or f"{slack.url}/webhook/approvers",
    )
    ensure_aws_resources(load_catalog(policies), table)
    wiring.reset()
    service = wiring.service()
    service.clock = clock
    return service


def clients(service) -> list:
    iam = service.writer.iam
    arns = {r.role_arn for r in service.catalog.roles.values()}
    unique = {id(c): c for c in (iam.client_for_role(a) for a in arns)}
    return [service.store.client, *unique.values()]


def request_and_approve(service, requester: str, role: str, minutes: int):
    from chalicelib.core.commands import RequestCommand

    command = RequestCommand(role, timedelta(minutes=minutes), "INC-1 bench")
    request = service.submit(requester, command, None)
    return service.approve(request.id, "U0APPROVER")
