"""POST /slack/commands: verify Slack's signature, run the command once, answer within 3 s."""

from __future__ import annotations

import json
import time

from chalice import Blueprint, Response

from chalicelib.config import settings
from chalicelib.core import deadline
from chalicelib.entry import http, slack_signature

slack_routes = Blueprint(__name__)

ACK_BUDGET_SECONDS = 1.5  # inline sends stop here, so Slack gets its answer well within 3 s
# Slack waits 3 s for the answer: a command's AWS calls end within this budget whatever AWS
# does (chalicelib/core/deadline.py), and releasing a role lock may take up to 0.8 s more
# (chalicelib/aws/store.py LOCK_RELEASE_SECONDS); what could not be done is said, never claimed.
COMMAND_BUDGET_SECONDS = 2.1


@slack_routes.route("/slack/commands", methods=["POST"], content_types=http.FORM)
def slack_command() -> Response:
    started = time.monotonic()
    request = slack_routes.current_request
    if not slack_signature.is_valid(
        settings().signing_secret,
        request.headers.get("x-slack-request-timestamp"),
        request.raw_body or b"",
        request.headers.get("x-slack-signature"),
        time.time(),
    ):
        return Response(body={"error": "invalid Slack signature"}, status_code=401)
    form = http.form(request)
    from chalicelib.entry import errors, slash
    from chalicelib.notify import messages

    command = form.get("command") or settings().command_name
    try:
        service = http.service(request)
    except Exception:  # bad deploy (policies, table): say so in Slack, not with a 500
        slack_routes.log.exception("cannot build the service")
        return Response(body=messages.ephemeral(errors.sorry(command)), status_code=200)
    with deadline.within(COMMAND_BUDGET_SECONDS - (time.monotonic() - started)) as budget:
        answer = slash.handle_once(
            service,
            slash.Arrival(
                timestamp=request.headers["x-slack-request-timestamp"],
                signature=request.headers["x-slack-signature"],
                retry_num=request.headers.get("x-slack-retry-num"),
            ),
            form.get("user_id", ""),
            form.get("text", ""),
            form.get("response_url"),
            command,
        )
        if answer.ran:  # inline sends stop in time to record what they did (in one write)
            sending = min(
                ACK_BUDGET_SECONDS - (time.monotonic() - started), budget.remaining() - 1.0
            )
            service.flush(max(0.0, sending))
    return _json(answer.body)


def _json(answer: dict | str) -> Response:
    body = answer if isinstance(answer, str) else json.dumps(answer)
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json"})
