"""Record a call in the CloudTrail stand-in, as a person's session on the role they hold.

    python -m tools.activity --as U0ALICE ec2 RunInstances
    python -m tools.activity --as U0ALICE --resource i-0abc --count 2 ec2 RunInstances
    python -m tools.activity --as U0ALICE --error AccessDenied iam CreateUser
    make activity AS=U0ALICE ARGS='ec2 RunInstances'

The event is what CloudTrail would record for that call: made by
``assumed-role/<role name>/<IAM user name>`` (the session name Switchback pins), now, in the
deployment's region, read-only when the action's name says so (Get…, List…, Describe…).
The role is ``--role``, else the one of the person's active grant (read from the local stack's
table). The stand-in is ``--url``, else ``AWS_ENDPOINT_URL_CLOUDTRAIL``, else the one the
local stack names in its state file (``cloudtrail`` in .local/stack.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARGS_VARIABLE = "SWITCHBACK_ACTIVITY_ARGS"  # set by `make activity ARGS=…`
AS_VARIABLE = "SWITCHBACK_ACTIVITY_AS"  # set by `make activity AS=…`
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_CLOUDTRAIL"


class ActivityCliError(Exception):
    """Something to tell the caller (exit 2)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.activity", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--as", dest="user", default=os.environ.get(AS_VARIABLE) or "U0ALICE")
    parser.add_argument("--role", help="the role's policy name (default: the active grant's)")
    parser.add_argument("--region", help="default: the deployment's region")
    parser.add_argument("--resource", action="append", default=[], help="a resource name")
    parser.add_argument("--error", help="an errorCode, e.g. AccessDenied")
    parser.add_argument("--read-only", dest="read_only", action="store_true", default=None)
    parser.add_argument("--write", dest="read_only", action="store_false")
    parser.add_argument("--count", type=int, default=1, help="how many such calls")
    parser.add_argument("--url", help="the CloudTrail stand-in's URL")
    parser.add_argument("--policies", help="the policy folder (default: the local stack's)")
    parser.add_argument("service", help="e.g. ec2, iam, s3")
    parser.add_argument("action", help="e.g. RunInstances")
    return parser.parse_args(argv)


def local_stack() -> dict:
    """The running local stack's state (`make run` writes it), or {}."""
    try:
        from tools.local_stack import STATE_FILE

        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def standin_url(args: argparse.Namespace, stack: dict) -> str:
    url = args.url or os.environ.get(ENDPOINT_VARIABLE) or stack.get("cloudtrail")
    if not url:
        raise ActivityCliError(
            "where is the CloudTrail stand-in? start the local stack (`make run`), or give "
            f"--url or {ENDPOINT_VARIABLE}"
        )
    return url.rstrip("/")


def active_grants(slack_id: str, stack: dict) -> list:
    """The person's ACTIVE grants, from the local stack's table."""
    from chalicelib.aws import clients as aws
    from chalicelib.aws.store import Store
    from chalicelib.core.model import State

    if not stack:
        raise ActivityCliError("the local stack is not running: give --role, or `make run`")
    os.environ["AWS_ENDPOINT_URL"] = stack["aws"]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    store = Store(aws.client("dynamodb"), stack.get("table", "switchback"))
    return [r for r in store.requests_of(slack_id) if r.state is State.ACTIVE]


def choose_role(args: argparse.Namespace, catalog, stack: dict, grants=active_grants):
    if args.role:
        spec = catalog.role(args.role)
        if spec is None:
            raise ActivityCliError(f"no role {args.role!r} in the policies")
        return spec
    held = grants(args.user, stack)
    names = sorted({g.role for g in held})
    if not names:
        raise ActivityCliError(f"{args.user} holds no active grant: give --role, or get one")
    if len(names) > 1:
        raise ActivityCliError(f"{args.user} holds {', '.join(names)}: say which with --role")
    return catalog.role(names[0])


def events_for(args: argparse.Namespace, person, spec, region: str, now: datetime) -> list[dict]:
    from testkit.cloudtrail_standin import record, session_arn

    identity = session_arn(spec.role_arn, person.iam_user_name)
    return [
        record(
            identity,
            args.service,
            args.action,
            now,
            region=region,
            read_only=args.read_only,
            error_code=args.error,
            resources=args.resource,
            role_arn=spec.role_arn,
        )
        for _ in range(max(1, args.count))
    ]


def post(url: str, events: list[dict]) -> int:
    request = urllib.request.Request(
        f"{url}/events",
        data=json.dumps({"events": events}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(json.loads(answer.read())["recorded"])
    except (urllib.error.URLError, OSError) as error:
        why = f"the CloudTrail stand-in at {url} did not answer: {error}"
        raise ActivityCliError(why) from error


def run(argv: list[str], out=print, now: datetime | None = None, grants=active_grants) -> int:
    from chalicelib.policies import load_catalog

    args = parse_args(argv)
    stack = local_stack()
    url = standin_url(args, stack)
    policies = args.policies or stack.get("policies") or os.environ.get("SWITCHBACK_POLICIES")
    catalog = load_catalog(policies or ROOT / "policies")
    person = catalog.person(args.user)
    if person is None:
        raise ActivityCliError(f"{args.user} is not in people.toml")
    spec = choose_role(args, catalog, stack, grants)
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    events = events_for(args, person, spec, region or "us-east-1", now or datetime.now(UTC))
    recorded = post(url, events)
    first = events[0]
    out(
        f"recorded {recorded} × {args.service}:{args.action} by "
        f"{first['userIdentity']['arn']} in {first['awsRegion']}"
        + (f" ({args.error})" if args.error else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:] or shlex.split(os.environ.get(ARGS_VARIABLE, ""))
    from chalicelib.policies import PolicyError

    try:
        return run(argv)
    except (ActivityCliError, PolicyError) as error:
        print(f"tools.activity: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
