"""Posting a message to a Slack URL (incoming webhook or response_url) and judging the answer.

Retries are the outbox's job (it persists them), so slack_sdk's in-process retry handlers are
turned off here; slack_sdk is imported only when a message is actually sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Answers that will never succeed however often they are retried.
PERMANENT_ERRORS = {
    "channel_not_found",
    "invalid_payload",
    "no_service",
    "no_service_id",
    "no_team",
    "team_disabled",
    "invalid_token",
    "action_prohibited",
    "posting_to_general_channel_denied",
    "channel_is_archived",
    "no_text",
    "expired_url",
    "used_url",
}


MAX_RETRY_AFTER = 86400.0  # seconds; a larger Retry-After is read as this


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    permanent: bool = False  # give up now: retrying cannot help
    retry_after: float | None = None  # seconds Slack asked us to wait (429)
    error: str = ""


def post(url: str, payload_json: str, timeout: float) -> Outcome:
    from slack_sdk.webhook import WebhookClient

    client = WebhookClient(url=url, timeout=max(1, int(timeout + 0.999)), retry_handlers=[])
    try:
        response = client.send_dict(json.loads(payload_json))
    except Exception as error:  # timeouts, refused connections, DNS: all worth retrying
        return Outcome(delivered=False, error=f"{type(error).__name__}: {error}"[:300])
    return judge(response.status_code, response.body or "", response.headers or {})


def judge(status: int, body: str, headers: dict) -> Outcome:
    """Map an HTTP answer to deliver / retry / give up (pure, unit-tested)."""
    if 200 <= status < 300:
        return Outcome(delivered=True)
    reason = body.strip()[:200] or f"HTTP {status}"
    if status == 429:
        wanted = {k.lower(): v for k, v in headers.items()}.get("retry-after")
        try:
            delay = float(wanted[0] if isinstance(wanted, list) else wanted)
        except (TypeError, ValueError, IndexError):
            delay = None
        if delay is not None:
            # nan, inf or a huge value would break the outbox's timedelta arithmetic
            delay = min(delay, MAX_RETRY_AFTER) if 0 <= delay < float("inf") else None
        return Outcome(delivered=False, retry_after=delay, error=f"rate limited ({reason})")
    if status >= 500 or status in (408,):
        return Outcome(delivered=False, error=f"HTTP {status}: {reason}")
    if status in (404, 410, 400, 403) or reason in PERMANENT_ERRORS:
        return Outcome(delivered=False, permanent=True, error=f"HTTP {status}: {reason}")
    return Outcome(delivered=False, permanent=True, error=f"HTTP {status}: {reason}")
