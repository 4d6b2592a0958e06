"""How long a session of a managed role may live, against how long a grant may last (pure).

STS issues a session for up to the role's MaxSessionDuration (1 to 12 hours; AWS, "IAM role
settings: maximum session duration"). A session taken near the end of a grant lives on past
it; the session-limit policy denies it every action from the grant's end, but not what no
policy can deny (``sts:GetCallerIdentity``, and data-plane sessions already open — see
docs/security.md). The shorter MaxSessionDuration, the less outlives a grant: it should be
no longer than the role's ``max_duration``, and 1 hour is recommended.

The deploy check (tools/deploy.py) uses this; `/access roles` can show the same words.
"""

from __future__ import annotations

from datetime import timedelta

from chalicelib.core.catalog import RoleSpec
from chalicelib.core.durations import format_duration

RECOMMENDED_MAX_SESSION = timedelta(hours=1)
SHORTEST_MAX_SESSION = timedelta(hours=1)  # IAM accepts no shorter MaxSessionDuration


def max_session_warning(role: RoleSpec, max_session: timedelta) -> str | None:
    """Words of warning when ``role``'s MaxSessionDuration (as IAM holds it) is longer than
    its ``max_duration`` (or than 1 hour, the shortest IAM allows, for shorter roles); None
    when it is not."""
    allowed = max(role.max_duration, SHORTEST_MAX_SESSION)
    if max_session <= allowed:
        return None
    return (
        f"{role.name}: the IAM role's MaxSessionDuration is {format_duration(max_session)}, "
        f"longer than its max_duration {format_duration(role.max_duration)}; credentials "
        "issued near a grant's end outlive it (the session limits deny their actions, but not "
        "sts:GetCallerIdentity nor sessions already open to other services). Set it to "
        f"{format_duration(allowed)} at most, 1h recommended: aws iam update-role --role-name "
        f"{role.aws_role_name} --max-session-duration "
        f"{int(RECOMMENDED_MAX_SESSION.total_seconds())}"
    )
