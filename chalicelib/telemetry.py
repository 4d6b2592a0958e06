"""Structured events and metrics, in one place so the rest of the code names what happened
(``access.requested``, ``trust.updated``…) and not how it is shipped.

Events are JSON lines (Powertools Logger) with stable names and the fields given (request id,
role ARN, principal, expiry…), plus the Lambda request id of the invocation. Metrics are
CloudWatch embedded metric format (Powertools Metrics), flushed at the end of every invocation.
Tracing (Powertools Tracer, X-Ray) runs on deployed stages only. Powertools is imported on the
first event, never at import time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from typing import Any

# Chalice's app logger is named after the app. A Powertools Logger of the same name would add
# its handler to that very logger and every line would be printed twice, so ours differs.
CHALICE_APP_NAME = "switchback"
SERVICE = "switchback-broker"
NAMESPACE = "Switchback"

_lock = threading.Lock()
_parts: dict[str, Any] = {}
# LogRecord attributes: a field with one of these names would make logging raise.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _CurrentStdout:
    """Whatever sys.stdout is at the time of writing (Powertools keeps the stream it was given,
    and Python's logger outlives our references to it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def service_name() -> str:
    name = os.environ.get("POWERTOOLS_SERVICE_NAME", "").strip() or SERVICE
    return SERVICE if name == CHALICE_APP_NAME else name


def logger():
    """The process's Powertools Logger (JSON lines on stdout)."""
    with _lock:
        if "logger" not in _parts:
            from aws_lambda_powertools import Logger

            level = os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO"
            _parts["logger"] = Logger(
                service=service_name(), level=level, utc=True, stream=_CurrentStdout()
            )
        return _parts["logger"]


def _metrics():
    with _lock:
        if "metrics" not in _parts:
            from aws_lambda_powertools import Metrics

            namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
            _parts["metrics"] = Metrics(namespace=namespace, service=service_name())
        return _parts["metrics"]


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one event: ``name`` as the message and as ``event``, with ``fields`` as JSON keys."""
    log = logger()
    if log.isEnabledFor(level):
        safe = {f"{k}_" if k in _RESERVED else k: v for k, v in fields.items()}
        log.log(level, name, extra={"event": name, **safe})


def metric(name: str, value: float = 1, unit: str = "Count") -> None:
    """Count something (requests, grants, undelivered messages…) or time it (``unit``:
    "Milliseconds"); shipped with the next ``flush``."""
    from aws_lambda_powertools.metrics import MetricUnit

    _metrics().add_metric(name=name, unit=MetricUnit(unit), value=value)


def start_invocation(lambda_request_id: str | None) -> None:
    """Tag every following line with the Lambda request id (one invocation at a time)."""
    if lambda_request_id:
        logger().append_keys(lambda_request_id=lambda_request_id)


def flush() -> None:
    """Ship the metrics recorded so far (one EMF line), if any."""
    with _lock:
        metrics = _parts.get("metrics")
    if metrics is not None and metrics.metric_set:
        metrics.flush_metrics()
        metrics.clear_metrics()  # also when POWERTOOLS_METRICS_DISABLED, so nothing piles up


def start_tracing() -> None:
    """Trace AWS calls with X-Ray (Powertools Tracer patches botocore). Deployed stages only:
    locally there is no X-Ray daemon, and importing the SDK would cost start-up time. The
    package vendors the X-Ray SDK; without it, Lambda's own trace of the invocation remains."""
    with _lock:
        if "tracer" in _parts:
            return
        if importlib.util.find_spec("aws_xray_sdk") is None:
            _parts["tracer"] = None
        else:
            from aws_lambda_powertools import Tracer

            _parts["tracer"] = Tracer(service=service_name(), patch_modules=["botocore"])
    if _parts["tracer"] is None:
        event("tracing.unavailable", logging.WARNING, reason="aws_xray_sdk is not in the bundle")


def forget() -> None:
    """Drop the Logger, Metrics and Tracer, and unflushed metrics (tests change the environment
    between cases)."""
    with _lock:
        if _parts.get("metrics") is not None:
            _parts["metrics"].clear_metrics()  # Powertools keeps them per class, not per object
        _parts.clear()
