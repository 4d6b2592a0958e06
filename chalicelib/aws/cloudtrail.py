"""CloudTrail's event history (LookupEvents) for activity reports: the port core/activity.py
names, reading one person's events in one role's account, region by region.

- LookupEvents by ``Username`` = the pinned session name, between the window's start and end,
  50 events a page, following ``NextToken``; at most ``cap`` events for one report, and the
  answer says it is truncated when there were more.
- CloudTrail allows two LookupEvents requests per second per account and region: every request
  (retries too) waits its turn at a ``RateLimiter`` shared by the process, keyed by account and
  region. botocore retries nothing on these clients (``total_attempts=1``), so no request ever
  skips the limiter; ``ThrottlingException`` and 5xx are retried here, with exponential backoff.
- A role in another account is read there, with its manager role's credentials (assumed on
  first use and again before they expire), as chalicelib/aws/accounts.py does for IAM.
- The clients come from chalicelib/aws/clients.py, so botocore's standard
  ``AWS_ENDPOINT_URL_CLOUDTRAIL`` points them elsewhere (the local stack's stand-in).
- SDK errors become the project's (core/errors.py): ``AwsUnavailable`` (try again later),
  ``AwsRefused`` (a permission is missing).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.aws import clients as aws
from chalicelib.aws.accounts import REFRESH_MARGIN_SECONDS, assume_manager
from chalicelib.core.activity import EVENT_CAP, Lookup
from chalicelib.core.errors import AwsRefused, AwsUnavailable

LOOKUP_ACTIONS = ("cloudtrail:LookupEvents",)  # no resource-level permission: Resource "*"
PAGE_SIZE = 50  # LookupEvents' MaxResults at most
REQUESTS_PER_SECOND = 2.0  # per account and region (the LookupEvents API reference)
ATTEMPTS = 5  # per page
BACKOFF_SECONDS = 1.0  # first wait after a throttled attempt; doubled each time
BACKOFF_CAP_SECONDS = 16.0

_RETRIED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
    }
)
_REFUSED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
)


class RateLimiter:
    """At most ``per_second`` requests per key (account, region), spaced evenly; threads that
    share it take turns. ``clock`` and ``sleep`` are injectable (tests, bench)."""

    def __init__(
        self,
        per_second: float = REQUESTS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        history: int = 20000,
    ):
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.sent: deque[tuple[tuple[str, str], float]] = deque(maxlen=history)

    def wait(self, key: tuple[str, str]) -> float:
        """Wait for ``key``'s next turn; return how long it waited."""
        with self._lock:
            now = self._clock()
            turn = max(now, self._next.get(key, now))
            self._next[key] = turn + self.interval
            self.sent.append((key, turn))
        waited = turn - now
        if waited > 0:
            self._sleep(waited)
        return waited

    def busiest_second(self, key: tuple[str, str] | None = None) -> int:
        """The most requests sent for one key within any one second (for tests and bench)."""
        times: dict[tuple[str, str], list[float]] = {}
        for sent_key, at in self.sent:
            if key is None or sent_key == key:
                times.setdefault(sent_key, []).append(at)
        most = 0
        for stamps in times.values():
            stamps.sort()
            start = 0
            for end, at in enumerate(stamps):
                while at - stamps[start] >= 1.0 - 1e-9:
                    start += 1
                most = max(most, end - start + 1)
        return most


_limiter = RateLimiter()  # one per process: every report's reads share CloudTrail's rate


class CloudTrailClients:
    """A CloudTrail client per account and region: the broker's own credentials for roles in
    its account; for roles in others, their manager role's, assumed once for all regions and
    again before they run out."""

    def __init__(
        self,
        managers: dict[str, str],
        make_client: Callable[..., Any] = aws.client,
        clock: Callable[[], float] = time.time,
    ):
        self._managers = managers  # role ARN -> manager role ARN
        self._make_client = make_client
        self._clock = clock
        self._credentials: dict[str, tuple[dict, float]] = {}  # manager -> (credentials, expiry)
        self._made: dict[tuple[str | None, str], tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, role_arn: str, region: str) -> Any:
        manager = self._managers.get(role_arn)
        with self._lock:
            if manager is None:
                key = (None, region)
                if key not in self._made:
                    made = self._make_client("cloudtrail", total_attempts=1, region_name=region)
                    self._made[key] = (made, float("inf"))
                return self._made[key][0]
            credentials, expires = self._credentials.get(manager, ({}, 0.0))
            if not credentials or self._clock() >= expires - REFRESH_MARGIN_SECONDS:
                credentials = assume_manager(self._make_client, manager)
                expires = credentials["Expiration"].timestamp()
                self._credentials[manager] = (credentials, expires)
            made, signed_until = self._made.get((manager, region), (None, 0.0))
            if made is None or signed_until != expires:
                made = self._make_client(
                    "cloudtrail",
                    assumed_role=manager,
                    total_attempts=1,
                    region_name=region,
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                )
                self._made[(manager, region)] = (made, expires)
            return made


class CloudTrailReader:
    """Reads one person's events for a report (``lookup``), within CloudTrail's rate."""

    def __init__(
        self,
        clients: Callable[[str, str], Any],
        home_region: str,
        limiter: RateLimiter | None = None,
        cap: int = EVENT_CAP,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ):
        self._clients = clients
        self.home_region = home_region
        self.limiter = limiter or _limiter
        self.cap = cap
        self.attempts = attempts
        self._sleep = sleep
        self._jitter = jitter

    def lookup(
        self,
        role_arn: str,
        session_name: str,
        start: datetime,
        end: datetime,
        regions: tuple[str, ...],
    ) -> Lookup:
        """Every event CloudTrail holds under ``session_name`` in the role's account between
        ``start`` and ``end``, in each of ``regions``, up to the cap."""
        account = role_arn.split(":")[4]
        events: list[dict] = []
        read: list[str] = []
        by_region: Counter[str] = Counter()
        calls = throttled = 0
        truncated = False
        for region in regions:
            if len(events) >= self.cap:
                truncated = True  # a region left unread
                break
            read.append(region)
            client = self._clients(role_arn, region)
            token: str | None = None
            while True:
                arguments: dict[str, Any] = {
                    "LookupAttributes": [
                        {"AttributeKey": "Username", "AttributeValue": session_name}
                    ],
                    "StartTime": start,
                    "EndTime": end,
                    "MaxResults": PAGE_SIZE,
                }
                if token:
                    arguments["NextToken"] = token
                page, sent, slowed = self._page(client, (account, region), arguments)
                calls += sent
                by_region[region] += sent
                throttled += slowed
                found = page.get("Events") or []
                room = self.cap - len(events)
                events.extend(found[:room])
                token = page.get("NextToken")
                if len(found) > room or (token and len(events) >= self.cap):
                    truncated = True
                    break
                if not token:
                    break
            if truncated:
                break
        return Lookup(
            events=tuple(events),
            regions=tuple(read),
            truncated=truncated,
            calls=calls,
            throttled=throttled,
            by_region=dict(by_region),
        )

    def _page(self, client: Any, key: tuple[str, str], arguments: dict) -> tuple[dict, int, int]:
        """One page, retried on throttling and 5xx: (answer, requests sent, throttled)."""
        from botocore.exceptions import BotoCoreError, ClientError

        sent = throttled = 0
        for attempt in range(self.attempts):
            self.limiter.wait(key)
            sent += 1
            try:
                return client.lookup_events(**arguments), sent, throttled
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code in _REFUSED:
                    raise AwsRefused(
                        f"CloudTrail refused LookupEvents in {key[1]} of account {key[0]}: "
                        f"{error} (the broker, or that account's manager role, needs "
                        "cloudtrail:LookupEvents)"
                    ) from error
                if code not in _RETRIED and status < 500:
                    raise AwsUnavailable(f"CloudTrail LookupEvents in {key[1]}: {error}") from error
                throttled += 1
                last: Exception = error
            except BotoCoreError as error:  # no answer (connection, timeout): try again
                last = error
            if attempt + 1 < self.attempts:
                backoff = min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt)
                self._sleep(backoff * (0.5 + self._jitter() / 2))
        raise AwsUnavailable(
            f"CloudTrail LookupEvents in {key[1]} of account {key[0]} kept failing after "
            f"{self.attempts} attempts: {last}"
        ) from last


def reader(managers: dict[str, str], home_region: str | None = None) -> CloudTrailReader:
    """A reader for the catalog's roles (``catalog.managers()``), built once by wiring; the
    home region is the deployment's (the session's) unless given."""
    region = home_region or aws.session().region_name or "us-east-1"
    return CloudTrailReader(CloudTrailClients(managers), region)
