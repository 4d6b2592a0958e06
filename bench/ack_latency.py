"""How fast Slack gets its answer to `/access …` (Slack gives up after 3 s).

Prints:
  1. warm: p50/p99 of POST /slack/commands for `request`, `list` and `roles` on the real local
     stack over HTTP (embedded moto, console Slack), N calls each;
  2. hanging webhook: the same stack with the approvers' webhook accepting connections and
     never answering: the ack of `request` (target <= 2.5 s, every time);
  3. cold: a fresh interpreter per run does `import app`, then handles one signed command
     given to the app as Lambda gives it (an API Gateway proxy event), against a moto server;
     and, in a separate untimed run, the AWS calls of the first and second command (`roles`
     reads IAM cold, then from its one-minute cache); plus what slack_sdk's import costs;
  4. cold `import app` against the `import boto3, chalice` floor (target ratio <= 1.3).

    .venv/bin/python bench/ack_latency.py [N]
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cold_import import cold  # noqa: E402
from chalicelib.entry.slack_signature import sign  # noqa: E402
from tools.slash import send  # noqa: E402
from tools.stack_process import StackProcess  # noqa: E402

SECRET = "bench-signing-secret"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(stack: StackProcess, text: str, count: int, withdraw: bool = False) -> list[float]:
    """``withdraw``: cancel each new request again (untimed), so the next one is new too and
    not answered as a duplicate of a pending one."""
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        status, answer = send(stack.api, SECRET, "U0ALICE", text, "http://127.0.0.1:9/response")
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"HTTP {status}: {answer}")
        if withdraw:
            request_id = answer["text"].split("Request `", 1)[1][:10]
            send(stack.api, SECRET, "U0ALICE", f"cancel {request_id}", "http://127.0.0.1:9/r")
    return timings


def _fresh(stack: StackProcess, text: str, count: int) -> list[float]:
    """`request` timed while no request of the person is pending (the one from warm-up is
    withdrawn first, each timed one after its timing)."""
    status, answer = send(stack.api, SECRET, "U0ALICE", "list", "http://127.0.0.1:9/r")
    for pending in answer["text"].split("`")[1::2]:
        if len(pending) == 10 and pending.isalnum() and pending.isupper():
            send(stack.api, SECRET, "U0ALICE", f"cancel {pending}", "http://127.0.0.1:9/r")
    return measure(stack, text, count, withdraw=True)


def line(label: str, timings: list[float]) -> str:
    return (
        f"  {label:10} n={len(timings):<4} p50={statistics.median(timings):7.1f} ms "
        f"p99={percentile(timings, 0.99):7.1f} ms max={max(timings):7.1f} ms"
    )


class Webhook:
    """A local webhook on 127.0.0.1: answers 200 "ok", or accepts and never answers."""

    def __init__(self, hang: bool):
        release = self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hang:
                    release.wait(120)
                    return
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def warm(count: int) -> None:
    print(f"warm, local stack over HTTP (AWS is moto), {count} calls each:")
    with tempfile.TemporaryDirectory() as workdir:
        stack = StackProcess(Path(workdir), SECRET, SWITCHBACK_SWEEP_SECONDS="3600").wait_ready()
        try:
            measure(stack, "help", 5)  # warm the process: clients, policies, imports
            measure(stack, "request ec2-admin 30m INC-42 typical", 1)  # one pending
            print(line("roles", measure(stack, "roles", count)))
            print(line("list", measure(stack, "list", count)) + "  (1 pending)")
            print(line("duplicate", measure(stack, "request ec2-admin 30m INC-42 again", count)))
            print(line("request", _fresh(stack, "request ec2-admin 30m INC-42 bench", count)))
        finally:
            stack.stop()
    print("  (`roles` reads IAM at most once a minute per process; these calls hit the cache)")


def hanging(count: int) -> None:
    webhook = Webhook(hang=True)
    with tempfile.TemporaryDirectory() as workdir:
        stack = StackProcess(
            Path(workdir), SECRET, SWITCHBACK_SWEEP_SECONDS="3600", SLACK_WEBHOOK_URL=webhook.url
        ).wait_ready()
        try:
            measure(stack, "help", 3)
            text = "request ec2-admin 30m INC-42 hanging webhook"
            timings = measure(stack, text, count, withdraw=True)
            print("hanging approvers' webhook (target: every ack <= 2500 ms):")
            print(line("request", timings))
            print(f"  all <= 2500 ms: {max(timings) <= 2500}")
        finally:
            stack.stop()
            webhook.close()


# -- cold --------------------------------------------------------------------------------------
COLD_RUN = r"""
import json, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()
answer = app.app(json.loads(sys.argv[1]), None)
first = time.perf_counter()
app.app(json.loads(sys.argv[2]), None)
second = time.perf_counter()
print(json.dumps({
    "status": answer["statusCode"], "import": imported - started, "first": first - imported,
    "second": second - first,
}))
"""

# Not timed: counts the AWS calls of a cold process's first and second command.
COUNT_RUN = r"""
import json, sys
from collections import Counter
import botocore.client
calls = Counter()
real = botocore.client.BaseClient._make_api_call
def counting(self, operation, params):
    calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
    return real(self, operation, params)
botocore.client.BaseClient._make_api_call = counting
import app
app.app(json.loads(sys.argv[1]), None)
first = dict(calls)
calls.clear()
app.app(json.loads(sys.argv[2]), None)
print(json.dumps({"first": first, "second": dict(calls)}))
"""


def child(script: str, text: str, env: dict) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            json.dumps(signed_event(text)),
            json.dumps(signed_event(text, "U0BOB")),  # another person: not a duplicate
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def calls_text(calls: dict) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(calls.items())) or "none"


def signed_event(text: str, user: str = "U0ALICE") -> dict:
    body = urlencode(
        {
            "team_id": "T0BENCH",
            "user_id": user,
            "command": "/access",
            "text": text,
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": secrets.token_hex(8),  # unique, as Slack's: else it is a replay
        }
    )
    stamp = str(int(time.time()))
    headers = {
        "host": "abc.execute-api.us-east-1.amazonaws.com",
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": sign(SECRET, stamp, body.encode()),
    }
    return {
        "resource": "/slack/commands",
        "path": "/slack/commands",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/slack/commands",
            "httpMethod": "POST",
            "path": "/api/slack/commands",
            "stage": "api",
            "apiId": "abc",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def cold_commands(runs: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from testkit.moto_guard import serialise_dynamodb_writes

    serialise_dynamodb_writes()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    webhook = Webhook(hang=False)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHBACK_", "SLACK_"))
    }
    env.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        SWITCHBACK_STAGE="local",
        SWITCHBACK_POLICIES="policies",
        SWITCHBACK_BASE_URL="https://switchback.example",
        SWITCHBACK_COOKIE_KEY="bench",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_WEBHOOK_URL=webhook.url,
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    from chalicelib.policies import load_catalog
    from tools.local_stack import ensure_aws_resources

    ensure_aws_resources(load_catalog(ROOT / "policies"), "switchback")
    print(f"cold: a fresh interpreter per run ({runs} runs), `import app` + one command:")
    try:
        for label, text in [
            ("request", "request ec2-admin 30m INC-42 cold"),
            ("list", "list"),
            ("roles", "roles"),
        ]:
            totals, imports, firsts, seconds = [], [], [], []
            for n in range(runs):
                env["SWITCHBACK_TABLE"] = f"bench-{label}-{n}"  # nobody's request pending yet
                ensure_aws_resources(load_catalog(ROOT / "policies"), env["SWITCHBACK_TABLE"])
                figures = child(COLD_RUN, text, env)
                assert figures["status"] == 200, figures
                imports.append(figures["import"] * 1000)
                firsts.append(figures["first"] * 1000)
                seconds.append(figures["second"] * 1000)
                totals.append((figures["import"] + figures["first"]) * 1000)
            print(
                f"  {label:8} import app p50={statistics.median(imports):6.1f} ms, first "
                f"command p50={statistics.median(firsts):6.1f} ms, import+first "
                f"p50={statistics.median(totals):6.1f} max={max(totals):6.1f} ms; "
                f"second command p50={statistics.median(seconds):6.1f} ms"
            )
            env["SWITCHBACK_TABLE"] = f"bench-{label}-count"
            ensure_aws_resources(load_catalog(ROOT / "policies"), env["SWITCHBACK_TABLE"])
            counted = child(COUNT_RUN, text, env)
            print(
                f"  {'':8} AWS calls: first {calls_text(counted['first'])}; "
                f"second {calls_text(counted['second'])}"
            )
    finally:
        webhook.close()
        moto.stop()


def slack_sdk_import(runs: int) -> None:
    statement = (
        "import time, boto3; t = time.perf_counter(); import slack_sdk.webhook; "
        "print((time.perf_counter() - t) * 1000)"
    )
    costs = [
        float(
            subprocess.run(
                [sys.executable, "-c", statement], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    print(
        f"slack_sdk.webhook import after boto3: p50={statistics.median(costs):.1f} ms "
        f"(paid by the first command that sends inline, not by `import app`)"
    )


def import_ratio(runs: int) -> None:
    floor = cold("import boto3, chalice", runs)
    ours = cold("import app", runs)
    print(f"cold import, median of {runs}:")
    print(f"  import boto3, chalice: {floor:6.1f} ms")
    print(f"  import app:            {ours:6.1f} ms")
    print(f"  ratio:                 {ours / floor:6.2f} (target <= 1.3)")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    warm(count)
    hanging(max(5, count // 20))
    cold_commands(7)
    slack_sdk_import(7)
    import_ratio(9)


if __name__ == "__main__":
    main()
