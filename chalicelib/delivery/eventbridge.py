"""Putting one event on an EventBridge bus and judging the answer: delivered, retry, give up.

The outbox's sender for destinations ``eventbridge:<bus name or ARN>``: the stored payload is
one PutEvents entry. PutEvents answers HTTP 200 even when it refused an entry
(``FailedEntryCount``): a refused entry is not delivered, and is retried like a Slack message
that failed, unless retrying cannot help (a malformed entry). A bus that is missing or that we
may not write to is retried until the outbox's age limit: someone may still create it or fix
the policy. The boto3 client is made on first use, so ``import app`` does not pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.core.model import parse_iso
from chalicelib.delivery.slack import Outcome

DESTINATION = "eventbridge:"  # + the bus's name or ARN
EVENT_ACTIONS = ("events:PutEvents",)  # all the broker asks EventBridge (tools/broker_policy)
# Entry or call errors that retrying the same entry can never fix.
PERMANENT_ERRORS = {"MalformedDetail", "InvalidArgument", "ValidationException"}


def destination(bus: str) -> str:
    return f"{DESTINATION}{bus}"


def is_event(url: str) -> bool:
    return url.startswith(DESTINATION)


class EventBridgeDelivery:
    """``(destination, entry JSON, timeout, patient) -> Outcome``, as the outbox sends."""

    def __init__(self, client: Callable[[], Any] | None = None):
        self._client = client or _events_client
        self._made: Any = None

    def __call__(
        self, url: str, payload_json: str, timeout: float, patient: bool = False
    ) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.core import deadline
        from chalicelib.core.errors import BudgetSpent

        entry = json.loads(payload_json)
        entry["Time"] = parse_iso(entry["Time"])  # when it happened, not when it is delivered
        try:
            if self._made is None:
                self._made = self._client()
            with deadline.within(timeout):
                answer = self._made.put_events(Entries=[entry])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            return judge(code, str(error))
        except (BotoCoreError, BudgetSpent, OSError) as error:  # timeouts, refused connections
            return Outcome(delivered=False, error=f"{type(error).__name__}: {error}"[:300])
        if answer.get("FailedEntryCount", 0):
            [refused] = answer["Entries"]
            return judge(refused.get("ErrorCode", ""), refused.get("ErrorMessage", ""))
        return Outcome(delivered=True)


def judge(code: str, message: str) -> Outcome:
    """A refused entry or call: give up only if retrying cannot help (pure, unit-tested)."""
    error = f"{code}: {message}"[:300] if code else message[:300]
    return Outcome(delivered=False, permanent=code in PERMANENT_ERRORS, error=error)


def _events_client() -> Any:
    from chalicelib.aws import clients as aws

    return aws.client("events")
