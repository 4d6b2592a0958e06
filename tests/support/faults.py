"""Faults injected into real boto3 clients talking to moto, through botocore's event hooks.

``throttle``/``server_error`` answer the next N attempts of an operation with IAM's or
DynamoDB's error, so botocore's retry policy (standard mode, bounded) meets them as it would
meet AWS. ``crash`` raises ``Crash`` at a chosen point, like a process killed there: before a
call is sent, or just after AWS answered a call (the write happened, nothing after it did);
``crash_after_write(n)`` dies right after the n-th write call, whatever it is.
``lose_answer`` sends an attempt to AWS for real and then lets botocore see a read timeout, as
when a response is lost on the way back: botocore retries what AWS already did.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

# Calls that change something in AWS (what "between any two writes" counts).
WRITES = {
    "dynamodb.PutItem",
    "dynamodb.DeleteItem",
    "dynamodb.TransactWriteItems",
    "iam.UpdateAssumeRolePolicy",
    "iam.PutRolePolicy",
    "iam.DeleteRolePolicy",
}


class Crash(BaseException):
    """The process died here. BaseException, so no ``except Exception`` in the code under test
    can swallow it, as nothing can swallow a kill."""


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _xml_error(code: str, message: str) -> bytes:
    return (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>fault-injection</RequestId></ErrorResponse>"
    ).encode()


def _json_error(code: str, message: str) -> bytes:
    return f'{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}'.encode()


class Faults:
    def __init__(self, *clients: Any):
        self._lock = threading.Lock()
        self._answers: dict[str, list[tuple[int, str, str]]] = {}
        self._crashes: list[tuple[str, Callable[[dict], bool], bool]] = []
        self._lost: list[tuple[str, Callable[[bytes], bool]]] = []
        self._die_after_write: int | None = None
        self.writes: list[str] = []  # every write call made, in order
        self.injected: list[str] = []
        uid = uuid.uuid4().hex
        for client in clients:
            events = client.meta.events
            events.register("before-send", self._before_send, unique_id=f"{uid}-send")
            # before-parameter-build sees the call's own parameters (before-call sees the
            # serialised request); both share the call's context with after-call.
            events.register("before-parameter-build", self._before_call, unique_id=f"{uid}-call")
            events.register("after-call", self._after_call, unique_id=f"{uid}-after")

    # -- scripting -------------------------------------------------------------------------------
    def throttle(self, operation: str, times: int = 2) -> Faults:
        """``operation`` like "iam.GetRole" or "dynamodb.PutItem"."""
        code = "ThrottlingException" if operation.startswith("dynamodb.") else "Throttling"
        return self._queue(operation, times, 400, code, "Rate exceeded")

    def server_error(self, operation: str, times: int = 2, status: int = 503) -> Faults:
        code = "InternalServerError" if operation.startswith("dynamodb.") else "ServiceFailure"
        return self._queue(operation, times, status, code, "We encountered an internal error")

    def reject(self, operation: str, code: str, message: str, times: int = 1) -> Faults:
        return self._queue(operation, times, 409, code, message)

    def crash(
        self, operation: str, when: Callable[[dict], bool] = lambda _: True, after: bool = True
    ) -> Faults:
        """Die once at the first ``operation`` whose parameters satisfy ``when``: right after
        AWS answered it (``after``) or before it is sent."""
        with self._lock:
            self._crashes.append((operation, when, after))
        return self

    def crash_after_write(self, index: int) -> Faults:
        """Die right after the ``index``-th (0-based) write call from now answered."""
        with self._lock:
            self._die_after_write = len(self.writes) + index
        return self

    def lose_answer(
        self, operation: str, when: Callable[[bytes], bool] = lambda _: True, times: int = 1
    ) -> Faults:
        """The next ``times`` attempts of ``operation`` whose body satisfies ``when`` reach AWS
        and are done there, but their answer is lost: botocore sees a read timeout."""
        with self._lock:
            self._lost.extend([(operation, when)] * times)
        return self

    def _queue(self, operation: str, times: int, status: int, code: str, message: str) -> Faults:
        with self._lock:
            self._answers.setdefault(operation, []).extend([(status, code, message)] * times)
        return self

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._crashes.clear()
            self._lost.clear()
            self._die_after_write = None

    # -- hooks -----------------------------------------------------------------------------------
    def _before_send(self, event_name: str, request: Any, **_: Any):
        operation = ".".join(event_name.split(".")[1:3])
        with self._lock:
            lost = next(
                (
                    i
                    for i, (target, when) in enumerate(self._lost)
                    if target == operation and when(request.body or b"")
                ),
                None,
            )
            if lost is not None:
                del self._lost[lost]
                self.injected.append(f"{operation} answer lost")
        if lost is not None:
            URLLib3Session().send(request)  # AWS does it...
            raise ReadTimeoutError(endpoint_url=request.url)  # ...and we never hear back
        with self._lock:
            queued = self._answers.get(operation)
            if not queued:
                return None
            status, code, message = queued.pop(0)
            self.injected.append(f"{operation} {status} {code}")
        json_protocol = operation.startswith("dynamodb.")
        body = (_json_error if json_protocol else _xml_error)(code, message)
        headers = {"Content-Type": "application/x-amz-json-1.0" if json_protocol else "text/xml"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    def _before_call(self, event_name: str, params: dict, context: dict, **_: Any) -> None:
        operation = ".".join(event_name.split(".")[1:3])
        with self._lock:
            if operation in WRITES:
                self.writes.append(operation)
                if self._die_after_write == len(self.writes) - 1:
                    self._die_after_write = None
                    self.injected.append(f"crash after write {len(self.writes) - 1} {operation}")
                    context["crash_after"] = operation
                    return
            for index, (target, when, after) in enumerate(self._crashes):
                if target == operation and when(params):
                    del self._crashes[index]
                    self.injected.append(f"crash {'after' if after else 'before'} {operation}")
                    if not after:
                        raise Crash(f"died before {operation}")
                    context["crash_after"] = operation
                    return

    def _after_call(self, context: dict, **_: Any) -> None:
        if operation := context.pop("crash_after", None):
            raise Crash(f"died right after {operation}")
