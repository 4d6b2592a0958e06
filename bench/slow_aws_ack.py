"""How long a slash command takes to answer when AWS is slow, and what it says.

The app (chalice's test client, the same handler as deployed) talks to moto through a proxy
that holds chosen calls back (testkit/slow_aws.py), so the real clients meet real socket
timeouts. For each command and each kind of slowness, prints the slowest and median ack of a
few runs and the start of the answer. Slack gives up after 3 s.

    .venv/bin/python bench/slow_aws_ack.py [runs]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from engine_setup import ROOT, MovableClock, start_aws

HANG = 5.0
PEOPLE = "".join(
    f'[people.U0{n.upper()}]\nname = "{n}"\naws = "arn:aws:iam::123456789012:user/{n}"\n'
    for n in ("alice", "bob")
)
ROLE = (
    'role_arn = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"\nmax_duration = "4h"\n'
    'requesters = ["*"]\napprovers = ["U0BOB"]\n'
)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    start_aws()
    from chalice.test import Client

    import app
    from chalicelib import wiring
    from chalicelib.policies import load_catalog
    from testkit.slack_standin import SlackReceiver
    from testkit.slow_aws import SlowAws
    from tests.conftest import signed_command
    from tools.local_stack import ensure_aws_resources

    slack = SlackReceiver()
    proxy = SlowAws(os.environ["AWS_ENDPOINT_URL"])
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "roles").mkdir()
        (Path(folder) / "people.toml").write_text(PEOPLE)
        (Path(folder) / "roles" / "ec2-admin.toml").write_text(ROLE)
        os.environ.update(
            SWITCHBACK_STAGE="local",
            SWITCHBACK_TABLE="switchback",
            SWITCHBACK_POLICIES=folder,
            SLACK_SIGNING_SECRET="test-signing-secret",
            SWITCHBACK_COOKIE_KEY="bench-cookie-key",
            SWITCHBACK_BASE_URL="http://127.0.0.1:9",
            SLACK_WEBHOOK_URL=f"{slack.url}/webhook/approvers",
        )
        ensure_aws_resources(load_catalog(folder), "switchback")
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        wiring.reset()
        service = wiring.service()
        service.clock = MovableClock()
        with Client(app.app, stage_name="local", project_dir=str(ROOT)) as client:

            def slash(user: str, text: str) -> tuple[str, float]:
                body, headers = signed_command(user, text, f"{slack.url}/response/{user}")
                started = time.monotonic()
                answer = client.http.post("/slack/commands", body=body, headers=headers)
                took = time.monotonic() - started
                return json.loads(answer.body)["text"], took

            def new_request() -> str:
                text, _ = slash("U0ALICE", "request ec2-admin 30m INC-1 bench")
                return re.search(r"`([0-9A-Z]{10})`", text).group(1)

            def active() -> str:
                request_id = new_request()
                service.approve(request_id, "U0BOB")
                return request_id

            commands = {
                "request": lambda: "request ec2-admin 30m INC-1 bench",
                "list": lambda: "list",
                "cancel": lambda: f"cancel {new_request()}",
                "revoke": lambda: f"revoke {active()}",
            }
            print(f"slash-command acks, {runs} runs each; held calls wait {HANG:.0f} s in AWS")
            for slowness in ("none", "dynamodb.*", "iam.*", "*"):
                for name, text_of in commands.items():
                    took, said = [], ""
                    for _ in range(runs):
                        proxy.clear()
                        text = text_of()  # set up at full speed
                        if slowness != "none":
                            proxy.hold(slowness, HANG)
                        said, seconds = slash("U0ALICE", text)
                        took.append(seconds)
                        proxy.clear()
                        time.sleep(HANG if slowness != "none" else 0)  # let held calls land
                    print(
                        f"  slow {slowness:11} {name:8} max {max(took):.2f} s, "
                        f"median {statistics.median(took):.2f} s: {said[:70]!r}"
                    )
    proxy.close()
    slack.close()


if __name__ == "__main__":
    main()
