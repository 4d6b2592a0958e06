"""Slack request signing (v0): HMAC-SHA256 over ``v0:{timestamp}:{raw body}``."""

from __future__ import annotations

import hashlib
import hmac

TOLERANCE_SECONDS = 300  # Slack's advice: refuse requests more than five minutes off


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def is_valid(
    secret: str, timestamp: str | None, body: bytes, signature: str | None, now: float
) -> bool:
    """True only for a correct signature whose timestamp is within five minutes of ``now``."""
    if not secret or not timestamp or not signature:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        return False
    # Compare bytes: compare_digest raises TypeError on str with non-ASCII characters, and the
    # header is whatever the sender put there.
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))


# -- replays -----------------------------------------------------------------------------------
# A valid signature proves who sent a request, not that it is new: anyone who sees one signed
# request (a proxy log, a retry) could send it again within the five minutes. So each one is
# remembered (a conditional put in the table) until its timestamp can no longer pass the check
# above, and a second arrival gets the first answer, or a short refusal if that is not ready.
REPLAY_MEMORY_SECONDS = 2 * TOLERANCE_SECONDS + 60  # past the window on either side, and then some
REPLAY_REFUSAL = (
    "Slack delivered this command more than once; it was handled the first time. "
    "Check `{command} list` to see where it stands."
)


def replay_key(timestamp: str, signature: str) -> str:
    """What identifies one signed request: the signature covers the body and the timestamp."""
    digest = hashlib.sha256(f"{timestamp}:{signature}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def forget_at(timestamp: str) -> int:
    """Epoch seconds after which the request's memory may go (the table's TTL)."""
    return int(timestamp) + REPLAY_MEMORY_SECONDS


def is_retry(retry_num: str | None) -> bool:
    """Slack says ``X-Slack-Retry-Num: 1…`` when it sends a request again after no answer."""
    return bool(retry_num and retry_num.strip() not in ("", "0"))
