"""`make run`: the whole of Switchback on this machine.

Starts (or reuses, with AWS_ENDPOINT_URL) a moto server, creates the table and the roles and
IAM users named in the policies, serves the same Chalice app on PORT, prints Slack's messages
(or posts them to SLACK_WEBHOOK_URL) and runs the sweep every SWITCHBACK_SWEEP_SECONDS.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_ACTIVITY_DELAY = 60  # seconds: the walk-through sees its report soon after the grant
STATE_FILE = Path(os.environ.get("SWITCHBACK_LOCAL_STATE", ROOT / ".local" / "stack.json"))
DEV_SIGNING_SECRET = "switchback-local-dev-signing-secret"
# What a role created on the local stack trusts before any grant: a service, like most roles.
BASELINE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EC2Service",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def say(text: str) -> None:
    print(text, flush=True)


def port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def live_stack(state_file: Path) -> dict | None:
    """The stack that owns ``state_file``, if that process is still running and answering."""
    import urllib.request

    try:
        state = json.loads(state_file.read_text())
        pid = int(state["pid"])
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
        with urllib.request.urlopen(f"{state['api']}/healthz", timeout=1) as answer:
            return state if answer.status == 200 and pid != os.getpid() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no file, a stale one, or its process gone: free to take


def start_moto() -> str:
    import logging

    from moto.server import ThreadedMotoServer

    from testkit.moto_guard import serialise_dynamodb_writes

    serialise_dynamodb_writes()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise

    server = ThreadedMotoServer(
        ip_address="127.0.0.1", port=int(os.environ.get("MOTO_PORT", 0)), verbose=False
    )
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def ensure_aws_resources(catalog, table_name: str, event_bus: str | None = None) -> list[str]:
    """Create what is missing (with ``event_bus``, SWITCHBACK_EVENT_BUS: that EventBridge
    bus); leave what exists as it is. Returns what was created."""
    import boto3

    from chalicelib.aws.store import table_definition

    created = []
    dynamodb = boto3.client("dynamodb")
    if table_name not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**table_definition(table_name))
        created.append(f"table {table_name}")
    iam = boto3.client("iam")
    # IAM users only: an Identity Center person's sessions come from Identity Center.
    users = [u for p in catalog.people.values() for u in _iam_user_names(p)]
    for user in dict.fromkeys(users):
        try:
            iam.get_user(UserName=user)
        except iam.exceptions.NoSuchEntityException:
            iam.create_user(UserName=user)
            created.append(f"user {user}")
    for role in catalog.roles.values():
        try:
            iam.get_role(RoleName=role.aws_role_name)
        except iam.exceptions.NoSuchEntityException:
            iam.create_role(
                RoleName=role.aws_role_name,
                AssumeRolePolicyDocument=json.dumps(BASELINE_TRUST),
                Description=f"Switchback local: {role.description}"[:1000],
            )
            created.append(f"role {role.aws_role_name}")
    bus = (event_bus or "").rsplit("event-bus/", 1)[-1]  # a name, or the name in an ARN
    if bus and bus != "default":
        events = boto3.client("events")
        try:
            events.describe_event_bus(Name=bus)
        except events.exceptions.ResourceNotFoundException:
            events.create_event_bus(Name=bus)
            created.append(f"event bus {bus}")
    return created


def _iam_user_names(person) -> list[str]:
    return [arn.rsplit("/", 1)[1] for arn in person.identities if ":user/" in arn]


def record_aws_calls(path: Path) -> None:
    """Append every AWS call the app makes to ``path`` as JSON lines (action and the names it
    acts on): the tests compare them with the deploy policy."""
    from chalicelib.aws import clients as aws

    lock = threading.Lock()
    kept = ("RoleName", "PolicyName", "RoleArn", "TableName", "IndexName", "SecretId")

    def write(action: str, params: dict, assumed_role: str | None) -> None:
        signer = {"assumed_role": assumed_role} if assumed_role else {}
        buses = {e.get("EventBusName") for e in params.get("Entries", ())}  # PutEvents
        named = {"EventBusName": sorted(buses)} if buses else {}
        line = json.dumps(
            {"action": action, **signer, **named, **{k: params[k] for k in kept if k in params}}
        )
        with lock, path.open("a") as out:
            out.write(line + "\n")

    aws.observe(write)


def main() -> int:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    try:
        port = int(os.environ.get("PORT", "8000"))
    except ValueError:
        say(f"PORT={os.environ['PORT']!r} is not a port number; try `make run PORT=8001`.")
        return 2
    # Checked before anything starts, each in one line: a busy port, or a stack already running
    # (whose .local/stack.json `make slash` relies on, and must not be silently taken over).
    if port_in_use(port):
        say(f"Port {port} is in use on 127.0.0.1; pick another with `make run PORT={port + 1}`.")
        return 2
    running = live_stack(STATE_FILE)
    if running:
        say(
            f"A local stack (pid {running['pid']}) is already running at {running['api']} and "
            f"owns {STATE_FILE}; stop it first, or run this one with "
            f"SWITCHBACK_LOCAL_STATE=<another file>."
        )
        return 2
    sweep_seconds = float(os.environ.get("SWITCHBACK_SWEEP_SECONDS", "60"))
    env = os.environ
    env.setdefault("SWITCHBACK_STAGE", "local")
    if env["SWITCHBACK_STAGE"] != "local":
        say("the local stack runs the 'local' stage only")
        return 2
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("SWITCHBACK_POLICIES", "policies")
    env.setdefault("SLACK_SIGNING_SECRET", DEV_SIGNING_SECRET)
    env.setdefault("SWITCHBACK_COOKIE_KEY", secrets.token_urlsafe(32))
    env.setdefault("SWITCHBACK_BASE_URL", f"http://127.0.0.1:{port}")
    # Events print as JSON lines; CloudWatch metric blobs would only be noise on a console.
    env.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

    if env.get("SWITCHBACK_RECORD_AWS_CALLS"):
        record_aws_calls(Path(env["SWITCHBACK_RECORD_AWS_CALLS"]))

    from chalicelib.policies import PolicyError, load_catalog

    try:
        catalog = load_catalog(env["SWITCHBACK_POLICIES"])
    except PolicyError as error:
        say(f"Switchback cannot start: {error}")
        return 2

    if env.get("AWS_ENDPOINT_URL"):
        aws_url = env["AWS_ENDPOINT_URL"]
        say(f"AWS: using {aws_url}")
    else:
        aws_url = env["AWS_ENDPOINT_URL"] = start_moto()
        say(f"AWS: embedded moto server at {aws_url}")
    created = ensure_aws_resources(
        catalog, env.get("SWITCHBACK_TABLE", "switchback"), env.get("SWITCHBACK_EVENT_BUS")
    )
    say("AWS: created " + (", ".join(created) if created else "nothing (all there already)"))

    from tools.console_slack import ConsoleSlack

    console = ConsoleSlack(out=say).start()
    if not env.get("SLACK_WEBHOOK_URL"):
        env["SLACK_WEBHOOK_URL"] = f"{console.url}/webhook/approvers"
        say("Slack: no SLACK_WEBHOOK_URL, so messages are printed here")
    else:
        say(f"Slack: approvers' messages go to {env['SLACK_WEBHOOK_URL']}")
    if env["SLACK_SIGNING_SECRET"] == DEV_SIGNING_SECRET:
        say(f"Slack: dev signing secret '{DEV_SIGNING_SECRET}'")
    if env.get("SWITCHBACK_EVENT_BUS"):
        say(f"Events: every lifecycle event goes to the bus {env['SWITCHBACK_EVENT_BUS']}")
    cloudtrail_url = start_cloudtrail(env)

    from chalice.config import Config
    from chalice.local import create_local_server

    import app as switchback_app

    server = create_local_server(
        switchback_app.app,
        Config.create(chalice_stage="local", lambda_timeout=60, project_dir=str(ROOT)),
        "127.0.0.1",
        port,
    )
    # socketserver listens with a backlog of 5; approvers clicking at once must not be reset.
    server.server.socket.listen(128)
    STATE_FILE.parent.mkdir(exist_ok=True)
    STATE_FILE.write_text(
        json.dumps(
            {
                "api": f"http://127.0.0.1:{port}",
                "aws": aws_url,
                "console_slack": console.url,
                "signing_secret": env["SLACK_SIGNING_SECRET"],
                "table": env.get("SWITCHBACK_TABLE", "switchback"),
                "event_bus": env.get("SWITCHBACK_EVENT_BUS", ""),
                "cloudtrail": cloudtrail_url,
                "policies": str(Path(env["SWITCHBACK_POLICIES"]).resolve()),
                "pid": os.getpid(),
            }
        )
    )

    stop = threading.Event()

    def sweeper() -> None:
        while not stop.wait(sweep_seconds):
            try:
                summary = switchback_app.run_sweep()
                if any(v for k, v in summary.items()):
                    say(f"sweep: {json.dumps(summary)}")
            except Exception as error:  # keep sweeping; show what went wrong
                say(f"sweep failed: {type(error).__name__}: {error}")

    threading.Thread(target=sweeper, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: (stop.set(), server.shutdown()))
    people = ", ".join(f"{p.name} ({p.slack_id})" for p in catalog.people.values())
    say(f"""
Switchback is running (stage local, sweep every {sweep_seconds:g}s).
  API:      http://127.0.0.1:{port}   (health: /healthz)
  Sign in:  http://127.0.0.1:{port}/auth/dev
  People:   {people}
  Roles:    {", ".join(catalog.roles)}
Try it, in another terminal:
  make slash AS=U0ALICE ARGS='request ec2-admin 30m INC-42 resize the ASG'
Then open the Review link printed below, sign in as bob, and approve.
""")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop.set()
    _forget(STATE_FILE)
    return 0


def start_cloudtrail(env) -> str:
    """CloudTrail for activity reports: ``AWS_ENDPOINT_URL_CLOUDTRAIL`` if set, else a stand-in
    in this process (moto has no LookupEvents) that `make activity` records calls into. Set
    before the service is built; reports come ``SWITCHBACK_ACTIVITY_DELAY`` (here 60 s unless
    set) after a grant ends."""
    if env.get("AWS_ENDPOINT_URL_CLOUDTRAIL"):
        say(f"CloudTrail: using {env['AWS_ENDPOINT_URL_CLOUDTRAIL']}")
    else:
        from testkit.cloudtrail_standin import CloudTrailStandIn

        env["AWS_ENDPOINT_URL_CLOUDTRAIL"] = CloudTrailStandIn().start().url
        say(f"CloudTrail: stand-in at {env['AWS_ENDPOINT_URL_CLOUDTRAIL']} (make activity)")
    env.setdefault("SWITCHBACK_ACTIVITY_DELAY", str(LOCAL_ACTIVITY_DELAY))
    say(f"Activity reports: {env['SWITCHBACK_ACTIVITY_DELAY']}s after a grant ends")
    return env["AWS_ENDPOINT_URL_CLOUDTRAIL"]


def _forget(state_file: Path) -> None:
    """Remove the state file on the way out, if it is still ours."""
    try:
        if json.loads(state_file.read_text()).get("pid") == os.getpid():
            state_file.unlink()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
