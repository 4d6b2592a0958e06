"""Structured events and metrics, in one place so the rest of the code names what happened
(``access.requested``, ``trust.updated``…) and not how it is shipped."""

from __future__ import annotations

import json
import logging

_log = logging.getLogger("switchback")


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one event as ``name`` plus JSON fields (request id, role ARN, principal, expiry…)."""
    if _log.isEnabledFor(level):
        _log.log(level, "%s %s", name, json.dumps(fields, default=str, sort_keys=True))


def metric(name: str, value: float = 1) -> None:
    """Count something (requests, grants, undelivered messages…)."""
    _log.debug("metric %s %s", name, value)
