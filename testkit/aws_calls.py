"""Counting AWS API calls on real boto3 clients, through botocore's event hooks.

``calls`` counts what the code asked for (one per API call); ``attempts`` counts HTTP requests
sent, so retries after throttling show up as the difference. Used by tests and bench/.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # "iam.GetRole" -> how many calls
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._id = uuid.uuid4().hex
        self._clients: list[Any] = []

    def attach(self, *clients: Any) -> CallCounter:
        for client in clients:
            events = client.meta.events
            events.register("before-call", self._on_call, unique_id=f"{self._id}-call")
            events.register("before-send", self._on_send, unique_id=f"{self._id}-send")
            self._clients.append(client)
        return self

    def detach(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call", unique_id=f"{self._id}-call")
            client.meta.events.unregister("before-send", unique_id=f"{self._id}-send")
        self._clients.clear()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.attempts.clear()

    def _on_call(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.calls[_operation(event_name)] += 1

    def _on_send(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.attempts[_operation(event_name)] += 1

    def of(self, service: str) -> Counter[str]:
        """Calls to one service, by operation name."""
        prefix = f"{service}."
        return Counter(
            {name[len(prefix) :]: n for name, n in self.calls.items() if name.startswith(prefix)}
        )

    def total(self, service: str) -> int:
        return sum(self.of(service).values())


def _operation(event_name: str) -> str:
    # "before-call.iam.GetRole" -> "iam.GetRole"
    return ".".join(event_name.split(".")[1:3])
