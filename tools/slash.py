"""Send a slash command to the local stack signed exactly as Slack signs it.

    python -m tools.slash --as U0ALICE request ec2-admin 30m INC-42 resize the ASG

Reads the API address and signing secret from .local/stack.json (written by `make run`);
replies sent later through response_url are printed by the local stack's console.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.entry.slack_signature import sign  # noqa: E402

TEXT_VARIABLE = "SWITCHBACK_SLASH_TEXT"  # set by `make slash ARGS=…`
AS_VARIABLE = "SWITCHBACK_SLASH_AS"  # set by `make slash AS=…`


def send(
    api: str,
    secret: str,
    user: str,
    text: str,
    response_url: str,
    command: str = "/access",
    timestamp: int | None = None,
) -> tuple[int, dict | str]:
    body = urlencode(
        {
            "token": "local",
            "team_id": "T0LOCAL",
            "team_domain": "local",
            "channel_id": "C0LOCAL",
            "channel_name": "directmessage",
            "user_id": user,
            "user_name": user,
            "command": command,
            "text": text,
            "response_url": response_url,
            "trigger_id": secrets.token_hex(8),  # unique per command, as Slack's is
        }
    ).encode()
    stamp = str(timestamp or int(time.time()))
    request = urllib.request.Request(
        f"{api}/slack/commands",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read().decode()
            return answer.status, json.loads(raw)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--as", dest="user", default=os.environ.get(AS_VARIABLE) or "U0ALICE", help="Slack user ID"
    )
    parser.add_argument("text", nargs="*", help="the command text, e.g. request ec2-admin 1h …")
    args = parser.parse_args()
    # `make slash ARGS='…'` hands the text over in the environment, untouched by any shell:
    # quotes, &, *, $ and <@U…> arrive as typed.
    text = " ".join(args.text) if args.text else os.environ.get(TEXT_VARIABLE, "")
    try:
        from tools.local_stack import STATE_FILE

        stack = json.loads(STATE_FILE.read_text())
    except FileNotFoundError:
        print("The local stack is not running: start it with `make run`.", file=sys.stderr)
        return 2
    status, answer = send(
        stack["api"],
        stack["signing_secret"],
        args.user,
        text,
        f"{stack['console_slack']}/response/{args.user}",
    )
    if status != 200:
        print(f"HTTP {status}: {answer}", file=sys.stderr)
        return 1
    from tools.console_slack import readable

    print(readable(answer) if isinstance(answer, dict) else answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
