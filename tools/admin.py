"""The operator CLI: see and end grants without Slack, with your own AWS credentials.

    python -m tools.admin list                 # pending, approved and active requests
    python -m tools.admin list --all [--role R] [--since 30d] [--csv]   # past ones too
    python -m tools.admin show <id>            # one request and its audit trail
    python -m tools.admin revoke <id>          # end an active grant now
    python -m tools.admin sweep                # run one sweep pass now

Against a deployed stack: the table (`--table` or SWITCHBACK_TABLE: the stack's TableName
output), its region (`--region` or AWS_REGION / AWS_DEFAULT_REGION), the policy folder it was
deployed with (`--policies` or SWITCHBACK_POLICIES, default policies/) and, for `revoke` and
`sweep`, the approvers' webhook so people are told: `--webhook-secret-arn` or
SLACK_WEBHOOK_URL_ARN (the stack's SlackWebhookSecretArn parameter, read with your own
credentials), or the URL itself (`--webhook-url` or SLACK_WEBHOOK_URL),
and the stack's event bus if it has one (`--event-bus` or SWITCHBACK_EVENT_BUS: its EventBus
parameter) so its events are published.
Against the local stack (`make run`): `--local`.

It acts through Switchback's own use cases, as the caller's AWS identity (sts:GetCallerIdentity):
`show` and `revoke` add that identity, as `aws:<ARN>`, to the request's audit trail, and
Slack messages name it. Messages that cannot be sent now (Slack down) wait in the table for the
deployed sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPERATOR_PREFIX = "aws:"  # chalicelib.messages names such actors "an operator (...)"
LISTED_STATES = ("PENDING", "APPROVED", "ACTIVE", "SCHEDULED")


class AdminError(Exception):
    """Something the operator must fix; the message says what."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.admin", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--table", default=os.environ.get("SWITCHBACK_TABLE"))
    parser.add_argument("--region", default=None, help="default: AWS_REGION / AWS_DEFAULT_REGION")
    parser.add_argument("--policies", default=os.environ.get("SWITCHBACK_POLICIES", "policies"))
    parser.add_argument("--webhook-url", default=os.environ.get("SLACK_WEBHOOK_URL"))
    parser.add_argument(
        "--webhook-secret-arn",
        default=os.environ.get("SLACK_WEBHOOK_URL_ARN"),
        help="the stack's SlackWebhookSecretArn: the approvers' webhook, read with your keys",
    )
    parser.add_argument(
        "--event-bus",
        default=os.environ.get("SWITCHBACK_EVENT_BUS"),
        help="the stack's EventBus parameter, if any: revoke and sweep publish their events",
    )
    parser.add_argument(
        "--local", action="store_true", help="the local stack started by `make run`"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="pending, approved and active requests")
    add_history_options(listing)
    commands.add_parser("show", help="one request and its audit trail").add_argument("id")
    commands.add_parser("revoke", help="end an active grant now").add_argument("id")
    commands.add_parser("sweep", help="run one sweep pass now")
    activity = commands.add_parser("activity", help="a grant's activity report, from CloudTrail")
    activity.add_argument("id")
    activity.add_argument("--json", action="store_true", help="the report as JSON")
    return parser.parse_args(argv)


def add_history_options(listing: argparse.ArgumentParser) -> None:
    """``list --all``: every request kept, past ones too ("who had prod-admin last quarter?")."""
    listing.add_argument("--all", action="store_true", help="every state, past requests too")
    listing.add_argument("--role", help="with --all: only this role's requests")
    listing.add_argument("--since", help="with --all: created within this long, e.g. 30d, 12h")
    listing.add_argument("--csv", action="store_true", help="with --all: CSV on stdout")


def list_history(service, args: argparse.Namespace, actor: str, out=print) -> int:
    """``list --all [--role R] [--since 30d] [--csv]``: oldest first, one line (or CSV row)
    per request, in every state; the summary line only without --csv."""
    from chalicelib.core import history
    from chalicelib.core.durations import DurationError

    try:
        since = history.since_moment(args.since, service.clock())
    except DurationError as error:
        raise AdminError(f"--since {args.since!r}: {error} (write it like 30d, 12h)") from error
    found = service.history(args.role, since)
    if args.csv:
        out(history.to_csv(found), end="")
        return 0
    for request in found:
        out(describe(request))
    which = f" of {args.role}" if args.role else ""
    after = f" since {since}" if since else ""
    out(f"{len(found)} request(s){which}{after} in {args.table}, as {actor}")
    return 0


def configure(args: argparse.Namespace) -> None:
    """Point the service's settings (read from the environment) at the chosen deployment."""
    env = os.environ
    if args.local:
        from tools.local_stack import STATE_FILE

        try:
            stack = json.loads(STATE_FILE.read_text())
        except FileNotFoundError as error:
            raise AdminError("the local stack is not running: start it with `make run`") from error
        env["AWS_ENDPOINT_URL"] = stack["aws"]
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        args.table = args.table or stack.get("table", "switchback")
        args.policies = stack.get("policies", args.policies)
        args.webhook_url = args.webhook_url or f"{stack['console_slack']}/webhook/approvers"
        args.event_bus = args.event_bus or stack.get("event_bus")
        if stack.get("cloudtrail"):  # the stack's CloudTrail stand-in
            env.setdefault("AWS_ENDPOINT_URL_CLOUDTRAIL", stack["cloudtrail"])
    if not args.table:
        raise AdminError(
            "which table? give --table or SWITCHBACK_TABLE (the stack's TableName output: "
            "aws cloudformation describe-stacks --stack-name switchback-prod "
            "--query \"Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue\" --output text)"
        )
    if args.region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = args.region
    if args.command in ("revoke", "sweep") and not args.webhook_url and args.webhook_secret_arn:
        args.webhook_url = read_secret(args.webhook_secret_arn)
    if args.command in ("revoke", "sweep") and not args.webhook_url:
        raise AdminError(
            f"{args.command} tells people in Slack: give --webhook-url (the approvers' "
            "webhook) or --webhook-secret-arn (the stack's SlackWebhookSecretArn parameter: "
            "the secret is read with your own credentials, which need "
            "secretsmanager:GetSecretValue on it)"
        )
    env["SWITCHBACK_TABLE"] = args.table
    env["SWITCHBACK_POLICIES"] = str(Path(args.policies).resolve())
    if args.webhook_url:
        env["SLACK_WEBHOOK_URL"] = args.webhook_url
    if args.event_bus:
        env["SWITCHBACK_EVENT_BUS"] = args.event_bus
    # The operator's terminal wants answers, not JSON event lines or metric blobs.
    env.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    env["POWERTOOLS_METRICS_DISABLED"] = "true"


def read_secret(arn: str) -> str:
    """The approvers' webhook URL from Secrets Manager, with the operator's credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as error:
        raise AdminError(f"cannot read the approvers' webhook from {arn}: {error}") from error


def operator_identity() -> str:
    """``aws:<ARN>`` of whoever's credentials these are."""
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib import wiring

    try:
        arn = wiring.caller_arn()
    except (BotoCoreError, ClientError) as error:
        raise AdminError(f"cannot tell who you are (sts:GetCallerIdentity): {error}") from error
    return f"{OPERATOR_PREFIX}{arn}"


def describe(request) -> str:
    if request.state.value == "SCHEDULED":  # approved ahead: when it starts, and its scope
        return scheduled(request)
    end = request.ends_at or f"decide by {request.approval_deadline}"
    return (
        f"{request.id}  {request.state.value:<8} {request.role:<16} "
        f"{request.requester_name} ({request.requester})  {end}"
    )


def scheduled(request) -> str:
    from datetime import UTC, datetime

    from chalicelib.notify.messages import scheduled_line

    return scheduled_line(request, datetime.now(UTC))


def run(args: argparse.Namespace, out=print) -> int:
    from chalicelib import wiring
    from chalicelib.core.decisions import Refused
    from chalicelib.core.identity import describe as describe_principal
    from chalicelib.core.identity import is_sso
    from chalicelib.core.model import State, is_request_id, normalise_request_id

    configure(args)
    actor = operator_identity()
    service = wiring.service()
    if args.command == "list" and args.all:
        return list_history(service, args, actor, out)
    if args.command == "list" and (args.role or args.since or args.csv):
        raise AdminError("--role, --since and --csv go with --all")
    if args.command == "list":
        found = service.requests_in(State(s) for s in LISTED_STATES)
        for request in sorted(found, key=lambda r: (r.state.value, r.ends_at or "", r.id)):
            out(describe(request))
        out(f"{len(found)} open request(s) in {args.table}, as {actor}")
        return 0
    if args.command == "sweep":
        report = service.sweep(actor=actor)
        out(json.dumps(report.__dict__, indent=1))
        out(f"one sweep pass on {args.table}, as {actor}")
        return 1 if report.errors else 0
    if not is_request_id(args.id):
        raise AdminError(f"{args.id!r} is not a request id (ten letters and digits)")
    request_id = normalise_request_id(args.id)
    try:
        if args.command == "show":
            request = service.record(request_id, actor, "viewed", "operator CLI: show")
            out(describe(request))
            out(f"  role {request.role_arn}\n  principal {request.principal_arn}")
            if is_sso(request.principal_arn):
                out(f"  who {describe_principal(request.principal_arn)}")
            out(f"  reason {request.reason}")
            for entry in request.audit:
                detail = f" ({entry.detail})" if entry.detail else ""
                out(f"  {entry.at}  {entry.state.value:<9} {entry.action} by {entry.actor}{detail}")
            return 0
        if args.command == "activity":
            return show_activity(service, request_id, args.json, out)
        revoked = service.revoke(request_id, actor, operator=True)
    except Refused as refusal:
        raise AdminError(refusal.message) from refusal
    finally:
        service.flush(5.0)  # what Slack does not take now, the deployed sweep sends later
    out(
        f"{revoked.id} is {revoked.state.value}, by {actor}; its trust statement is removed now "
        "(or, if AWS was busy, by the next sweep)"
    )
    return 0


def show_activity(service, request_id: str, as_json: bool, out) -> int:
    """The report the sweep produced for the grant, or, before that, one read now (not kept,
    not sent: the sweep still sends its own once CloudTrail has caught up)."""
    from chalicelib.core.activity_text import render_text

    request = service.get(request_id)
    if request is None:
        raise AdminError(f"no request {request_id}")
    report = service.activity_on_demand(request)
    if report is None:
        raise AdminError(f"request {request_id} was never active: no activity to report")
    out(json.dumps(report.to_dict(), indent=1) if as_json else render_text(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    args = parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.core.errors import AwsUnavailable, LockBusy
    from chalicelib.policies import PolicyError

    try:
        return run(args)
    except (AdminError, PolicyError) as error:
        print(f"tools.admin: {error}", file=sys.stderr)
        return 2
    except (AwsUnavailable, LockBusy, BotoCoreError, ClientError) as error:
        print(f"tools.admin: AWS refused or did not answer: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
