"""Writing grants into IAM: every change to one role is one locked read-modify-write.

IAM replaces the whole trust policy on each write and has no version check, so two writers
without the lock would lose each other's statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from . import telemetry
from .iam import IamGateway
from .model import AccessRequest
from .store import Store
from .trust import Grant, add_grants, check_quota, remove_grants


def grant_of(request: AccessRequest) -> Grant:
    return Grant(
        request_id=request.id,
        principal_arn=request.principal_arn,
        session_name=request.session_name,
        ends=request.ends(),
        require_mfa=request.require_mfa,
    )


class RoleWriter:
    def __init__(self, store: Store, iam: IamGateway, clock: Callable[[], datetime]):
        self.store = store
        self.iam = iam
        self.clock = clock

    def apply(self, role_arn: str, add: Iterable[Grant] = (), remove: Iterable[str] = ()) -> bool:
        """Add and remove grant statements on one role in one write; True if IAM was written.

        Raises QuotaExceeded (nothing written), RoleMissing, AwsUnavailable, LockBusy.
        """
        add, remove = list(add), set(remove)
        with self.store.lock(f"role:{role_arn}"):
            trust = self.iam.read(role_arn)
            now = self.clock()
            updated = remove_grants(trust.trust_policy, remove, now)
            updated = add_grants(updated, add, now) if add else updated
            if add:
                check_quota(updated, self.iam.trust_quota(role_arn))
            if updated == trust.trust_policy:
                return False
            self.iam.write_trust(role_arn, updated)
        telemetry.event(
            "trust.updated", role_arn=role_arn, added=[g.sid for g in add], removed=sorted(remove)
        )
        return True
