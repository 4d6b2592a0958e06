"""Writing grants into IAM: every change to one role is one locked step.

IAM replaces a whole policy on each write and has no version check, so two writers without
the lock would lose each other's statements. Under the role's lock a step reads the role once
(GetRole, GetRolePolicy, and the role's cut ledger from the store), then writes, each at most
once and in this order: the ledger (the store remembers every cut before IAM holds it), the
session-limit policy (PutRolePolicy, or DeleteRolePolicy when no cut is left), the trust
policy; and records the state changes in the store before letting go.

Session limits before trust: a cut never waits on a trust write (a revoke whose trust write
IAM refuses has still ended every session), and a grant's live cut exists before its trust
does. Two deployments on one role take different locks; their session limits are separate
policies, and a trust write that loses the other deployment's race is repaired by the next
sweep (see docs/grants.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib import telemetry
from chalicelib.aws.iam import IamGateway
from chalicelib.aws.store import HeldLock, Store
from chalicelib.core import deadline, session_limits
from chalicelib.core.errors import AwsUnavailable, LockBusy, PolicyRejected, StoreConflict
from chalicelib.core.roleplan import RolePlan, RoleView
from chalicelib.core.trust import deployment_tag, trust_changes, widens

__all__ = ["RoleWriter", "Written", "TrustWriteFailed", "LimitsWriteFailed"]

# Long enough for a step whose IAM calls are all being retried (botocore's bounded backoff),
# short enough that a crashed holder's lock lapses well within a sweep interval.
LOCK_LEASE_SECONDS = 45.0
LOCK_WAIT_SECONDS = 20.0
LEASE_MARGIN_SECONDS = 5.0


class Lease:
    """The role's lock as held by this step; ``check`` before each write refuses to write once
    the lease may have lapsed (another process may then hold the lock)."""

    def __init__(self, role_arn: str, seconds: float, held: HeldLock | None = None):
        self.role_arn = role_arn
        self._deadline = time.monotonic() + seconds - min(LEASE_MARGIN_SECONDS, seconds / 4)
        self.held = held

    def inherited(self) -> set[str]:
        """Request ids a lapsed holder of the lock was left and did not take."""
        return set(self.held.inherited) if self.held else set()

    def take_pending(self) -> set[str]:
        """Request ids others left with us while we held the lock (see Store.lock)."""
        return self.held.take_pending() if self.held else set()

    def remaining(self) -> float:
        return self._deadline - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self._deadline:
            raise LockBusy(f"the lock on {self.role_arn} lapsed before the step could write")

    @contextmanager
    def bounding(self) -> Iterator[None]:
        """AWS calls in this block end within the lease, retries included: an attempt that
        could not be answered before the lease (less its margin) runs out is not sent
        (BudgetSpent, an AwsUnavailable), and each attempt's read timeout is cut to what is
        left (chalicelib/aws/clients.py). So a write retried on throttling never lands after
        another process took the lock, beyond the margin a request already on the wire
        needs. Checks the lease first."""
        self.check()
        with deadline.within(self.remaining()):
            yield


@dataclass
class Written:
    """Which of a step's writes reached the store and IAM."""

    ledger: bool = False
    limits: bool = False
    trust: bool = False


class TrustWriteFailed(Exception):
    """The session limits were written, the trust policy was not (IAM refused or failed)."""

    def __init__(self, written: Written, error: Exception):
        self.written, self.error = written, error
        super().__init__(str(error))


class LimitsWriteFailed(AwsUnavailable):
    """IAM refused the session-limit write for good (LimitExceeded, MalformedPolicyDocument,
    AccessDenied): the cuts this step needed are not in force. What could still be written
    was: the trust policy, when it only takes trust away (``written.trust``), so a revoke
    still stops new sessions. An AwsUnavailable, so every caller that leaves work to the
    sweep does so here too; the sweep retries the cut every minute."""

    def __init__(self, written: Written, error: Exception):
        self.written, self.error = written, error
        trust = (
            "the trust policy was written (trust removed)"
            if written.trust
            else "the trust policy was not changed"
        )
        super().__init__(f"IAM did not take the session-limit policy ({error}); {trust}")


class RoleWriter:
    def __init__(
        self,
        store: Store,
        iam: IamGateway,
        clock: Callable[[], datetime],
        lease_seconds: float = LOCK_LEASE_SECONDS,
        wait_seconds: float = LOCK_WAIT_SECONDS,
        tag: str | None = None,
    ):
        self.store = store
        self.iam = iam
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        # One deployment = one table: its Sids and its session-limit policy carry this tag.
        self.tag = tag or deployment_tag(store._table)
        self.limits_policy = session_limits.policy_name(self.tag)
        self._ledger_version: dict[str, int] = {}
        # The roles this thread holds the lock of (role ARN -> size of their other inline
        # policies once measured); per thread, as the local stack serves and sweeps at once.
        self._held = threading.local()

    @contextmanager
    def locked(
        self,
        role_arn: str,
        hand_over: str | None = None,
    ) -> Iterator[Lease]:
        """Hold the role's lock; raises LockBusy if another process keeps it too long, and
        LockHandedOver once ``hand_over`` (a request id) is left with the live holder."""
        with self.store.lock(
            f"role:{role_arn}",
            lease_seconds=self.lease_seconds,
            wait_seconds=self.wait_seconds,
            hand_over=hand_over,
        ) as held:
            held_here = self._held_roles()
            held_here[role_arn] = None  # the other inline policies, measured on first view
            try:
                yield Lease(role_arn, self.lease_seconds, held)
            finally:
                held_here.pop(role_arn, None)

    def _held_roles(self) -> dict[str, int | None]:
        if not hasattr(self._held, "roles"):
            self._held.roles = {}
        return self._held.roles

    def view(self, role_arn: str) -> RoleView:
        """The role as IAM holds it (two reads) and its cut ledger (one consistent read).
        Under the role's lock, also the size of the role's other inline policies (a list and
        a read each, once per hold): they share IAM's aggregate inline-policy quota with the
        session-limit policy, and only a step under the lock writes. Raises RoleMissing,
        AwsUnavailable."""
        role = self.iam.read(role_arn)
        limits = self.iam.read_inline_policy(role_arn, self.limits_policy)
        text, self._ledger_version[role_arn] = self._read_ledger(role_arn)
        held_here = self._held_roles()
        other_inline = 0
        if role_arn in held_here:
            if held_here[role_arn] is None:
                held_here[role_arn] = self.iam.other_inline_size(role_arn, self.limits_policy)
            other_inline = held_here[role_arn]
        return RoleView(
            role_arn=role_arn,
            role_id=role.role_id,
            trust=role.trust_policy,
            limits=limits,
            max_session=timedelta(seconds=role.max_session_seconds),
            ledger=session_limits.ledger_from_json(text),
            tag=self.tag,
            other_inline=other_inline,
        )

    # -- the cut ledger: one item per role, written only under the role's lock ---------------
    def _read_ledger(self, role_arn: str) -> tuple[str | None, int]:
        return self.store.read_cut_ledger(role_arn)

    def _write_ledger(self, role_arn: str, text: str) -> None:
        read = self._ledger_version.get(role_arn, 0)
        try:
            self.store.write_cut_ledger(role_arn, text, read)
        except StoreConflict:
            # Under the lock only a lapsed lease lets another writer in: let this step go.
            raise LockBusy(f"the cut ledger of {role_arn} changed under the lock") from None
        self._ledger_version[role_arn] = read + 1

    def trust_quota(self, role_arn: str) -> int:
        return self.iam.trust_quota(role_arn)

    def write(self, view: RoleView, plan: RolePlan, lease: Lease) -> Written:
        """Write what ``plan`` changes: the ledger, the session limits, then trust. Every IAM
        call is bounded by the lease, retries included, and the lease is checked again after
        it (``Lease.bounding``).

        Raises PolicyRejected, AwsUnavailable, LockBusy (the lease ran out: nothing more is
        written) when nothing reached IAM yet; TrustWriteFailed once the session limits are
        written but the trust write failed; LimitsWriteFailed when IAM refused the session
        limits for good, after writing the trust policy if it only takes trust away. A step
        that adds grants gets the refusal itself (PolicyRejected), with the trust removals
        written, so the caller can fail those grants and plan again.
        """
        written = Written()
        if plan.ledger_changed(view):
            lease.check()
            self._write_ledger(view.role_arn, session_limits.ledger_to_json(plan.ledger))
            written.ledger = True
        if plan.limits_changed(view):
            try:
                with lease.bounding():
                    if plan.limits is None:
                        self.iam.delete_inline_policy(view.role_arn, self.limits_policy)
                    else:
                        self.iam.write_inline_policy(view.role_arn, self.limits_policy, plan.limits)
            except PolicyRejected as error:
                self._write_removals(view, plan, lease, written)
                if plan.added:
                    raise
                raise LimitsWriteFailed(written, error) from error
            self._tell_limits(view, plan)
            written.limits = True
        if plan.trust_changed(view):
            try:
                # ``bounding`` checks the lease again, after the session-limit call and all of
                # its retries: a step whose lease lapsed meanwhile writes nothing more.
                with lease.bounding():
                    self.iam.write_trust(view.role_arn, plan.trust)
            except (AwsUnavailable, LockBusy, PolicyRejected) as error:
                if written.limits:
                    raise TrustWriteFailed(written, error) from error
                raise
            self._tell_trust(view, plan.trust)
            written.trust = True
        return written

    def _write_removals(self, view: RoleView, plan: RolePlan, lease: Lease, written: Written):
        """IAM refused the session limits: write the trust policy anyway if it trusts nobody
        new and nobody longer (a revoke's removal), so that new sessions stop at least. A
        failure here leaves it to the sweep like any other."""
        removals = plan.trust_removals()
        if removals == view.trust or widens(view.trust, removals, self.tag):
            return
        try:
            with lease.bounding():
                self.iam.write_trust(view.role_arn, removals)
        except (AwsUnavailable, LockBusy, PolicyRejected):
            return
        self._tell_trust(view, removals)
        written.trust = True

    def _tell_limits(self, view: RoleView, plan: RolePlan) -> None:
        cuts, _ = session_limits.read(plan.limits)
        telemetry.event(
            "session_limits.updated",
            role_arn=view.role_arn,
            policy=self.limits_policy,
            cuts={
                name: {
                    "live_end": cut.live_end.isoformat() if cut.live_end else None,
                    "closed": cut.closed,
                    "closed_before": (cut.closed_before.isoformat() if cut.closed_before else None),
                }
                for name, cut in sorted(cuts.items())
            },
        )

    def _tell_trust(self, view: RoleView, trust: dict) -> None:
        telemetry.event(
            "trust.updated",
            role_arn=view.role_arn,
            **trust_changes(view.trust, trust, self.tag),
        )
