"""Writing grants into IAM: every change to one role is one locked step.

IAM replaces a whole policy on each write and has no version check, so two writers without
the lock would lose each other's statements. Under the role's lock a step reads the role once
(GetRole, GetRolePolicy), writes the trust policy at most once, then the session-limit policy
at most once (PutRolePolicy, or DeleteRolePolicy when no limit is left), and records the state
changes in the store before letting go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from . import session_limits, telemetry
from .errors import LockBusy
from .iam import IamGateway
from .roleplan import RolePlan, RoleView, grant_of
from .store import Store
from .trust import grant_changes

__all__ = ["RoleWriter", "grant_of"]

# Long enough for a step whose IAM calls are all being retried (botocore's bounded backoff),
# short enough that a crashed holder's lock lapses well within a sweep interval.
LOCK_LEASE_SECONDS = 45.0
LOCK_WAIT_SECONDS = 20.0
LEASE_MARGIN_SECONDS = 5.0


class Lease:
    """The role's lock as held by this step; ``check`` before each write refuses to write once
    the lease may have lapsed (another process may then hold the lock)."""

    def __init__(self, role_arn: str, seconds: float):
        self.role_arn = role_arn
        self._deadline = time.monotonic() + seconds - min(LEASE_MARGIN_SECONDS, seconds / 4)

    def check(self) -> None:
        if time.monotonic() > self._deadline:
            raise LockBusy(f"the lock on {self.role_arn} lapsed before the step could write")


class RoleWriter:
    def __init__(
        self,
        store: Store,
        iam: IamGateway,
        clock: Callable[[], datetime],
        lease_seconds: float = LOCK_LEASE_SECONDS,
        wait_seconds: float = LOCK_WAIT_SECONDS,
    ):
        self.store = store
        self.iam = iam
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds

    @contextmanager
    def locked(self, role_arn: str) -> Iterator[Lease]:
        """Hold the role's lock; raises LockBusy if another process keeps it too long."""
        with self.store.lock(
            f"role:{role_arn}", lease_seconds=self.lease_seconds, wait_seconds=self.wait_seconds
        ):
            yield Lease(role_arn, self.lease_seconds)

    def view(self, role_arn: str) -> RoleView:
        """The role as IAM holds it: two reads. Raises RoleMissing, AwsUnavailable."""
        role = self.iam.read(role_arn)
        return RoleView(
            role_arn=role_arn,
            role_id=role.role_id,
            trust=role.trust_policy,
            limits=self.iam.read_inline_policy(role_arn, session_limits.POLICY_NAME),
            max_session=timedelta(seconds=role.max_session_seconds),
        )

    def trust_quota(self, role_arn: str) -> int:
        return self.iam.trust_quota(role_arn)

    def write(self, view: RoleView, plan: RolePlan, lease: Lease) -> bool:
        """Write what ``plan`` changes: trust first, then the session limits; True if any.

        Trust first: if the step dies between the two, the grant is still APPROVED (or the
        revoke already recorded) and the next step writes the limits; a new session is never
        left without its end for longer than that. Raises PolicyRejected, AwsUnavailable,
        LockBusy (the lease ran out: nothing more is written).
        """
        wrote = False
        if plan.trust_changed(view):
            lease.check()
            self.iam.write_trust(view.role_arn, plan.trust)
            telemetry.event(
                "trust.updated", role_arn=view.role_arn, **grant_changes(view.trust, plan.trust)
            )
            wrote = True
        if plan.limits_changed(view):
            lease.check()
            if plan.limits is None:
                self.iam.delete_inline_policy(view.role_arn, session_limits.POLICY_NAME)
            else:
                self.iam.write_inline_policy(view.role_arn, session_limits.POLICY_NAME, plan.limits)
            telemetry.event(
                "session_limits.updated",
                role_arn=view.role_arn,
                cuts={
                    name: [c.isoformat() for c in cuts]
                    for name, cuts in session_limits.cuts_of(plan.limits).items()
                },
            )
            wrote = True
        return wrote
