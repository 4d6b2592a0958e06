"""Posting a message to Slack and judging the answer: deliver, retry later, or give up.

Destinations are incoming webhooks and a command's ``response_url`` (slack_sdk's WebhookClient),
or ``chat.postMessage`` for a direct message when a bot token is configured (slack_sdk's
WebClient). Retrying across minutes is the outbox's job, because it persists; slack_sdk's retry
handlers only bridge a blip within one attempt, and only when the caller has time for them (the
sweep), never within a slash command's 3 seconds. slack_sdk is imported only when a message is
actually sent, so ``import app`` does not pay for it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

# The outbox's destination for a direct message: chat.postMessage with the bot token, which is
# added when sending and never stored with the message.
CHAT_POST_MESSAGE = "slack:chat.postMessage"
SLACK_API_URL = "https://slack.com/api/"

# Webhook answers that will never succeed however often they are retried.
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
# Web API errors (chat.postMessage answers HTTP 200 with ok=false) that are worth retrying.
TRANSIENT_API_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}

MAX_RETRY_AFTER = 86400.0  # seconds; a larger Retry-After is read as this
BRIEF_RETRY_AFTER = 2  # seconds; a 429 asking for longer is left to the outbox


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    permanent: bool = False  # give up now: retrying cannot help
    retry_after: float | None = None  # seconds Slack asked us to wait (429)
    error: str = ""


class SlackDelivery:
    """The outbox's sender: ``(destination, payload JSON, timeout, patient) -> Outcome``."""

    def __init__(self, bot_token: str | None = None, api_url: str | None = None):
        self._bot_token = bot_token
        self._api_url = api_url or SLACK_API_URL

    def __call__(
        self, url: str, payload_json: str, timeout: float, patient: bool = False
    ) -> Outcome:
        payload = json.loads(payload_json)
        handlers = retry_handlers() if patient else []
        if url == CHAT_POST_MESSAGE:
            return self._chat_post_message(payload, timeout, handlers)
        return post(url, payload_json, timeout, handlers)

    def _chat_post_message(self, payload: dict, timeout: float, handlers: list) -> Outcome:
        if not self._bot_token:
            return Outcome(
                delivered=False, permanent=True, error="no bot token configured (SLACK_BOT_TOKEN)"
            )
        from slack_sdk.errors import SlackApiError
        from slack_sdk.web import WebClient

        client = WebClient(
            token=self._bot_token,
            base_url=self._api_url,
            timeout=timeout,  # type: ignore[arg-type]  # urllib takes float seconds
            retry_handlers=handlers,
        )
        try:
            client.chat_postMessage(**payload)
        except SlackApiError as error:
            answer = error.response
            return judge_api(answer.status_code, answer.data, answer.headers or {})
        except Exception as error:  # timeouts, refused connections, DNS: all worth retrying
            return Outcome(delivered=False, error=f"{type(error).__name__}: {error}"[:300])
        return Outcome(delivered=True)


def post(url: str, payload_json: str, timeout: float, handlers: list | None = None) -> Outcome:
    """POST to an incoming webhook or response_url within ``timeout`` seconds."""
    from slack_sdk.webhook import WebhookClient

    client = WebhookClient(
        url=url,
        timeout=timeout,  # type: ignore[arg-type]  # urllib takes float seconds
        retry_handlers=handlers or [],
    )
    try:
        response = client.send_dict(json.loads(payload_json))
    except Exception as error:  # timeouts, refused connections, DNS: all worth retrying
        return Outcome(delivered=False, error=f"{type(error).__name__}: {error}"[:300])
    return judge(response.status_code, response.body or "", response.headers or {})


def retry_handlers() -> list:
    """slack_sdk's handlers for a blip: one quick retry of a dropped connection, a 500/503, or
    a 429 that asks to wait at most BRIEF_RETRY_AFTER seconds; longer waits go to the outbox."""
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    class BriefRateLimitRetryHandler(RateLimitErrorRetryHandler):
        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            if response is None or response.status_code != 429:
                return False
            delay = _retry_after({k.lower(): v for k, v in response.headers.items()})
            # slack_sdk's handler reads the header with int(): only whole seconds get here
            return delay is not None and delay == int(delay) and delay <= BRIEF_RETRY_AFTER

    return [
        ConnectionErrorRetryHandler(max_retry_count=1),
        ServerErrorRetryHandler(max_retry_count=1),
        BriefRateLimitRetryHandler(max_retry_count=1),
    ]


def _retry_after(headers: dict) -> float | None:
    wanted = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        delay = float(wanted[0] if isinstance(wanted, list) else wanted)
    except (TypeError, ValueError, IndexError):
        return None
    # nan, inf or a huge value would break the outbox's timedelta arithmetic
    if math.isnan(delay) or delay < 0 or delay == float("inf"):
        return None
    return min(delay, MAX_RETRY_AFTER)


def judge(status: int, body: str, headers: dict) -> Outcome:
    """Map a webhook's HTTP answer to deliver / retry / give up (pure, unit-tested)."""
    if 200 <= status < 300:
        return Outcome(delivered=True)
    reason = body.strip()[:200] or f"HTTP {status}"
    if status == 429:
        return Outcome(
            delivered=False, retry_after=_retry_after(headers), error=f"rate limited ({reason})"
        )
    if reason in PERMANENT_ERRORS:
        return Outcome(delivered=False, permanent=True, error=f"HTTP {status}: {reason}")
    if status >= 500 or status in (408,):
        return Outcome(delivered=False, error=f"HTTP {status}: {reason}")
    # Every other 4xx (channel_not_found, invalid_payload, expired_url…) will never succeed.
    return Outcome(delivered=False, permanent=True, error=f"HTTP {status}: {reason}")


def judge_api(status: int, data: dict | bytes | str | None, headers: dict) -> Outcome:
    """Map a Web API answer (``{"ok": false, "error": …}``) to deliver / retry / give up."""
    error = data.get("error", "") if isinstance(data, dict) else ""
    ok = isinstance(data, dict) and data.get("ok") is True
    if 200 <= status < 300 and ok:
        return Outcome(delivered=True)
    reason = error or f"HTTP {status}"
    if status == 429 or error == "ratelimited":
        return Outcome(
            delivered=False, retry_after=_retry_after(headers), error=f"rate limited ({reason})"
        )
    if status >= 500 or error in TRANSIENT_API_ERRORS or not error:
        return Outcome(delivered=False, error=f"HTTP {status}: {reason}")
    return Outcome(delivered=False, permanent=True, error=f"HTTP {status}: {reason}")
