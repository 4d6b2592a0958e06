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
