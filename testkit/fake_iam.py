"""An in-memory IAM behind the gateway's face (chalicelib/aws/iam.py, ``IamGateway``).

The use cases reach IAM only through the gateway (aws/grants.py's RoleWriter, aws/slots.py),
so the fake stands in for the gateway, not for boto3: the same methods, the same values
(``RoleTrust``) and the same errors the real adapter turns IAM's answers into —

- a role that does not exist: ``RoleMissing`` (IAM's NoSuchEntity); an inline policy that does
  not exist reads as None and deletes as nothing, as the gateway reads and deletes it;
- a document IAM refuses for good: ``PolicyRejected`` (IAM's LimitExceeded over the trust-policy
  size quota or the 10,240-character aggregate of a role's inline policies, counted as IAM
  counts them; MalformedPolicyDocument for a document with no statement);
- ``fail(operation, error)``: the next call of ``operation`` raises ``error`` (AwsUnavailable
  for an outage, PolicyRejected for an AccessDenied write, …).

It enforces the quotas moto leaves out (DESIGN: "moto does not enforce this quota").
tests/contract/test_iam_contract.py runs one suite against this fake and the gateway on moto.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field

from chalicelib.aws.iam import RoleTrust, account_of, role_name_of
from chalicelib.core.errors import PolicyRejected, RoleMissing
from chalicelib.core.policy_docs import iam_characters
from chalicelib.core.session_limits import INLINE_POLICY_QUOTA
from chalicelib.core.trust import DEFAULT_TRUST_QUOTA


@dataclass
class FakeRole:
    arn: str
    role_id: str
    trust: dict
    max_session_seconds: int = 3600
    inline: dict[str, dict] = field(default_factory=dict)


class FakeIam:
    """``IamGateway``'s methods over roles kept in memory; ``calls`` lists every call made."""

    def __init__(self, quota_override: int | None = None, trust_quota: int = DEFAULT_TRUST_QUOTA):
        self._quota_override = quota_override
        self.account_quota = trust_quota  # what GetAccountSummary would answer, every account
        self.roles: dict[str, FakeRole] = {}
        self.calls: list[str] = []
        self._failures: dict[str, list[Exception]] = {}
        self._mutex = threading.RLock()

    # -- set-up and inspection (what a test does with boto3 on moto) ---------------------------
    def create_role(
        self, role_arn: str, trust: dict | None = None, max_session_seconds: int = 3600
    ) -> FakeRole:
        trust = trust or {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_of(role_arn)}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = FakeRole(
            role_arn, f"AROA{len(self.roles) + 1:017d}", copy.deepcopy(trust), max_session_seconds
        )
        self.roles[role_arn] = role
        return role

    def delete_role(self, role_arn: str) -> None:
        self.roles.pop(role_arn, None)

    def fail(self, operation: str, error: Exception, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (a gateway method name) raise ``error``."""
        self._failures.setdefault(operation, []).extend([error] * times)

    def client_for_role(self, role_arn: str) -> None:
        return None  # no boto3 client to hook: count ``calls`` instead

    # -- the gateway's face ----------------------------------------------------------------------
    def _role(self, operation: str, role_arn: str) -> FakeRole:
        self.calls.append(operation)
        failures = self._failures.get(operation)
        if failures:
            raise failures.pop(0)
        role = self.roles.get(role_arn)
        if role is None:
            raise RoleMissing(f"the IAM role {role_arn} does not exist")
        return role

    def read(self, role_arn: str) -> RoleTrust:
        with self._mutex:
            role = self._role("read", role_arn)
            return RoleTrust(
                role_arn, role.role_id, copy.deepcopy(role.trust), role.max_session_seconds
            )

    def write_trust(self, role_arn: str, policy: dict) -> None:
        with self._mutex:
            role = self._role("write_trust", role_arn)
            _check_document(policy)
            size = _characters(policy)
            if size > self._account_quota():
                raise PolicyRejected(
                    "IAM refused the policy (LimitExceeded): Cannot exceed quota for "
                    f"ACLSizePerRole: {self._account_quota()}"
                )
            role.trust = copy.deepcopy(policy)

    def read_inline_policy(self, role_arn: str, policy_name: str) -> dict | None:
        with self._mutex:
            found = self._role("read_inline_policy", role_arn).inline.get(policy_name)
            return copy.deepcopy(found) if found is not None else None

    def other_inline_size(self, role_arn: str, except_name: str) -> int:
        with self._mutex:
            role = self._role("other_inline_size", role_arn)
            return _inline_size(role, except_name)

    def write_inline_policy(self, role_arn: str, policy_name: str, policy: dict) -> None:
        with self._mutex:
            role = self._role("write_inline_policy", role_arn)
            _check_document(policy)
            size = _inline_size(role, policy_name) + _characters(policy)
            if size > INLINE_POLICY_QUOTA:
                raise PolicyRejected(
                    "IAM refused the policy (LimitExceeded): Maximum policy size of "
                    f"{INLINE_POLICY_QUOTA} bytes exceeded for role {role_name_of(role_arn)}"
                )
            role.inline[policy_name] = copy.deepcopy(policy)

    def delete_inline_policy(self, role_arn: str, policy_name: str) -> None:
        with self._mutex:
            try:
                role = self._role("delete_inline_policy", role_arn)
            except RoleMissing:
                return  # already gone: what the gateway wanted
            role.inline.pop(policy_name, None)

    def trust_quota(self, role_arn: str) -> int:
        if self._quota_override is not None:
            return self._quota_override
        self.calls.append("trust_quota")
        return self._account_quota()

    def _account_quota(self) -> int:
        return self.account_quota


def _inline_size(role: FakeRole, except_name: str) -> int:
    return sum(
        _characters(document) for name, document in role.inline.items() if name != except_name
    )


def _characters(document: dict) -> int:
    """As IAM counts them: no whitespace, a non-ASCII character once."""
    return iam_characters(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def _check_document(policy: dict) -> None:
    statements = policy.get("Statement")
    if not statements:
        raise PolicyRejected(
            "IAM refused the policy (MalformedPolicyDocument): Syntax errors in policy."
        )
