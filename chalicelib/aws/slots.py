"""Free grant slots for `/access roles`: how many more people fit each role's trust policy,
from IAM reads cached briefly so the answer stays inside Slack's 3 seconds."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from chalicelib.aws.iam import IamGateway, RoleTrust
from chalicelib.core.catalog import Person, RoleSpec
from chalicelib.core.trust import free_slots

log = logging.getLogger("switchback.slots")

SLOTS_TTL = 60.0  # seconds a role's trust policy, read for `roles`, is reused
SLOTS_WAIT = 1.0  # seconds `roles` waits for IAM before it says "unknown right now"


class GrantSlots:
    """How many more grants fit into each role's trust policy.

    Reading a trust policy costs one IAM GetRole per role (and the account's quota once), on
    Slack's 3-second clock. So reads run in parallel, each is reused for SLOTS_TTL seconds
    (the count may lag a grant made in the last minute; the grant itself checks the quota
    exactly), and a role IAM does not answer for within SLOTS_WAIT shows as unknown.
    """

    def __init__(self, iam: IamGateway, ttl: float = SLOTS_TTL, clock=time.monotonic):
        self._iam = iam
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._quota_lock = threading.Lock()
        self._policies: dict[str, tuple[float, dict, int]] = {}  # arn -> (read at, policy, quota)
        self._facts: dict[str, tuple[str, int]] = {}  # arn -> (RoleId, MaxSessionDuration s)

    def free(
        self, roles: list[RoleSpec], person: Person, now: datetime, wait: float = SLOTS_WAIT
    ) -> dict[str, int | None]:
        stale = {r.role_arn for r in roles if not self._fresh(r.role_arn)}
        if stale:
            from concurrent.futures import ThreadPoolExecutor
            from concurrent.futures import wait as wait_for

            pool = ThreadPoolExecutor(max_workers=min(8, len(stale)))
            wait_for([pool.submit(self._read, arn) for arn in stale], timeout=wait)
            pool.shutdown(wait=False)  # a slow read still fills the cache for next time
        counts: dict[str, int | None] = {}
        for role in roles:
            with self._lock:
                cached = self._policies.get(role.role_arn)
            if cached is None:
                counts[role.name] = None
                continue
            _, policy, quota = cached
            ends = now + role.max_duration
            counts[role.name] = free_slots(policy, person.aws, ends, quota, None, role.require_mfa)
        return counts

    def max_session(self, role_arn: str) -> timedelta | None:
        """The role's MaxSessionDuration as last read for `roles` (None: not read yet)."""
        with self._lock:
            facts = self._facts.get(role_arn)
        return timedelta(seconds=facts[1]) if facts else None

    def role_id(self, role_arn: str) -> str | None:
        """The role's unique id (``AROA…``), read once and kept; None if IAM cannot say now."""
        with self._lock:
            facts = self._facts.get(role_arn)
        if facts is None:
            try:
                self._remember(self._iam.read(role_arn))
            except Exception as error:  # the caller shows the preview form instead
                log.warning("could not read the role id of %s: %s", role_arn, error)
                return None
            with self._lock:
                facts = self._facts.get(role_arn)
        return facts[0] if facts else None

    def _remember(self, read: RoleTrust) -> None:
        with self._lock:
            self._facts[read.role_arn] = (read.role_id, read.max_session_seconds)

    def _fresh(self, role_arn: str) -> bool:
        with self._lock:
            cached = self._policies.get(role_arn)
        return cached is not None and self._clock() - cached[0] < self._ttl

    def _read(self, role_arn: str) -> None:
        try:
            read = self._iam.read(role_arn)
            policy = read.trust_policy
            self._remember(read)
            with self._quota_lock:  # parallel reads: the account's quota is read only once
                quota = self._iam.trust_quota(role_arn)
        except Exception as error:  # shown as unknown; `roles` must answer regardless
            log.warning("could not read the trust policy of %s for `roles`: %s", role_arn, error)
            return
        with self._lock:
            self._policies[role_arn] = (self._clock(), policy, quota)
