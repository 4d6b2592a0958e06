"""boto3 clients, made on first use from one session per process (never at import time).

Throttling and 5xx are retried by botocore with backoff, a bounded number of times. Observers
see every AWS call a client makes (the tests record them to check the deploy policy).

Every client honours the caller's time budget (chalicelib/core/deadline.py): before each HTTP
attempt, one that could not finish within what is left is not sent (BudgetSpent), and the
attempt's read timeout is cut to what is left. A slash command's AWS calls therefore end in
time whatever AWS does; the sweep, which opens no budget, keeps the full timeouts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

# observer(action, params, assumed_role), e.g. ("iam:GetRole", {"RoleName": "Admin"}, None):
# assumed_role is the role whose credentials sign the call, None for the broker's own.
CallObserver = Callable[[str, dict, str | None], None]

_lock = threading.Lock()
_state: dict[str, Any] = {}
_observers: list[CallObserver] = []


CONNECT_TIMEOUT = 0.5  # a regional endpoint that takes longer to connect to is failing: retry
READ_TIMEOUT = 10.0
SHORTEST_READ = 0.25  # an attempt with less time than this to answer is not worth sending


def _config(total_attempts: int | None = None):
    from botocore.config import Config

    # botocore's max_attempts counts retries (5: up to 6 attempts); total_max_attempts all.
    retries = (
        {"mode": "standard", "max_attempts": 5}
        if total_attempts is None
        else {"mode": "standard", "total_max_attempts": total_attempts}
    )
    return Config(
        retries=retries,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


def session():
    """The process's boto3 session (credentials from the Lambda role, or the environment)."""
    with _lock:
        if "session" not in _state:
            import boto3

            _state["session"] = boto3.session.Session()
        return _state["session"]


def client(
    service_name: str,
    assumed_role: str | None = None,
    total_attempts: int | None = None,
    **credentials: str,
) -> Any:
    """A new client for ``service_name``; ``credentials`` (aws_access_key_id…, region_name)
    override the session's, for ``assumed_role`` (a role assumed in another account).
    ``total_attempts=1``: botocore retries nothing, for a caller that paces and retries its
    own calls (chalicelib/aws/cloudtrail.py keeps to CloudTrail's request rate that way)."""
    made = session().client(service_name, config=_config(total_attempts), **credentials)
    made.meta.events.register(
        "before-parameter-build.*.*", partial(_tell_observers, assumed_role=assumed_role)
    )
    made.meta.events.register("before-send.*.*", within_budget)
    return made


def within_budget(event_name: str, request: Any, **_: Any) -> None:
    """Send this attempt only if it can end within the open budget, and no later than that."""
    from chalicelib.core import deadline

    budget = deadline.current()
    if budget is None:
        return
    operation = ".".join(event_name.split(".")[1:3])
    budget.allow(operation, CONNECT_TIMEOUT + SHORTEST_READ)
    context = getattr(request, "context", None)
    if context is not None:  # botocore's per-request read timeout (the pool's is the config's)
        context["read_timeout"] = min(READ_TIMEOUT, budget.remaining() - CONNECT_TIMEOUT)


def observe(observer: CallObserver) -> None:
    """Call ``observer`` before every AWS call made by clients from this module."""
    _observers.append(observer)


def forget() -> None:
    """Drop the session and the observers (tests change the environment between cases)."""
    with _lock:
        _state.clear()
        _observers.clear()


def _tell_observers(model, params, assumed_role: str | None, **_) -> None:
    if _observers:
        action = f"{model.service_model.signing_name}:{model.name}"
        for observer in list(_observers):
            observer(action, params, assumed_role)
