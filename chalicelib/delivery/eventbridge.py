"""Putting one event on an EventBridge bus and judging the answer: delivered, retry, give up.

The outbox's sender for destinations ``eventbridge:<bus name or ARN>``: the stored payload is
one PutEvents entry. PutEvents answers HTTP 200 even when it refused an entry
(``FailedEntryCount``): a refused entry is not delivered, and is retried like a Slack message
that failed, unless retrying cannot help (a malformed entry). A bus that is missing or that we
may not write to is retried until the outbox's age limit: someone may still create it or fix
the policy. The boto3 client is made on first use, so ``import app`` does not pay for it.

A bus that failed an inline send (a slash command's, a click's) is not tried inline again for
INLINE_REST seconds in this process: its events wait for the sweep, which always tries, so a
bus that is down costs one answer its remaining time, not every answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from chalicelib.core.model import parse_iso
from chalicelib.delivery.slack import Outcome

DESTINATION = "eventbridge:"  # + the bus's name or ARN
EVENT_ACTIONS = ("events:PutEvents",)  # all the broker asks EventBridge (tools/broker_policy)
# Entry or call errors that retrying the same entry can never fix.
PERMANENT_ERRORS = {"MalformedDetail", "InvalidArgument", "ValidationException"}
INLINE_REST = 60.0  # seconds without inline sends after an inline send failed
RESTING = "the bus failed an inline send a moment ago: left for the sweep"


def destination(bus: str) -> str:
    return f"{DESTINATION}{bus}"


def is_event(url: str) -> bool:
    return url.startswith(DESTINATION)


class EventBridgeDelivery:
    """``(destination, entry JSON, timeout, patient) -> Outcome``, as the outbox sends."""

    def __init__(
        self,
        client: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._client = client or _events_client
        self._made: Any = None
        self._clock = clock
        self._rest_until = 0.0  # on ``clock``; shared by the local server's threads, benignly

    def __call__(
        self, url: str, payload_json: str, timeout: float, patient: bool = False
    ) -> Outcome:
        """``patient``: the sweep's send, always tried; an inline one is not while resting."""
        if not patient and self._clock() < self._rest_until:
            return Outcome(delivered=False, error=RESTING)
        outcome = self._put(payload_json, timeout)
        if not outcome.delivered and not outcome.permanent and not patient:
            self._rest_until = self._clock() + INLINE_REST
        return outcome

    def _put(self, payload_json: str, timeout: float) -> Outcome:
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
    error = (f"{code}: {message}" if code and message else code or message)[:300]
    return Outcome(delivered=False, permanent=code in PERMANENT_ERRORS, error=error)


def _events_client() -> Any:
    from chalicelib.aws import clients as aws

    return aws.client("events")
