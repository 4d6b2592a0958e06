"""IAM adapter: a role's trust policy and its inline session-limit policy, the account's quota.

Throttling and 5xx are retried by botocore (standard mode, bounded); what still fails becomes
AwsUnavailable so the caller can leave the work for the next sweep. A document IAM refuses for
good (LimitExceeded, MalformedPolicyDocument), or a write it denies the broker (AccessDenied),
becomes PolicyRejected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chalicelib.core.errors import AwsUnavailable, PolicyRejected, RoleMissing
from chalicelib.core.policy_docs import iam_characters, minified
from chalicelib.core.trust import DEFAULT_TRUST_QUOTA

# Every IAM action the broker calls, in one place: the deploy policy is generated from these,
# and a test compares them with what the end-to-end flow really calls.
ROLE_ACTIONS = (
    "iam:GetRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:GetRolePolicy",  # the session-limit inline policy (see DESIGN: "What a grant writes")
    "iam:ListRolePolicies",  # the role's other inline policies share IAM's aggregate quota
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
)
ACCOUNT_ACTIONS = ("iam:GetAccountSummary",)  # the trust-policy size quota; no resource to name
MANAGER_ACTIONS = ("sts:AssumeRole",)  # reaching roles in other accounts through their manager

_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceFailure",
    "ServiceUnavailable",
    "InternalFailure",
}
# IAM's answers to a document it will never accept (LimitExceeded: over a size quota).
_REJECTED = {"LimitExceeded", "MalformedPolicyDocument"}
# Writes IAM refuses the broker for good (AccessDenied: its policy, an SCP or a permissions
# boundary does not allow it on this role): retrying the same write cannot help either.
_WRITES = {"update_assume_role_policy", "put_role_policy", "delete_role_policy"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


@dataclass(frozen=True)
class RoleTrust:
    role_arn: str
    role_id: str
    trust_policy: dict
    max_session_seconds: int


def _as_text(document: dict) -> str:
    """A document boto3 already parsed, as text again (its whitespace is not counted anyway;
    non-ASCII characters count once, as IAM counts them)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def role_name_of(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[1]


def account_of(role_arn: str) -> str:
    return role_arn.split(":")[4]


class IamGateway:
    """Every call names the role it is about; ``client_for(role_arn)`` picks the IAM client
    (one account, or the account the role lives in)."""

    def __init__(self, client_for: Callable[[str], Any], quota_override: int | None = None):
        self._client_for = client_for
        self._quota_override = quota_override
        self._quotas: dict[str, int] = {}

    @classmethod
    def single(cls, client: Any, quota_override: int | None = None) -> IamGateway:
        return cls(lambda _role_arn: client, quota_override)

    def client_for_role(self, role_arn: str) -> Any:
        """The boto3 IAM client used for ``role_arn`` (tests and bench/ hook its events)."""
        return self._client_for(role_arn)

    def _call(self, operation: str, role_arn: str, **kwargs) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client_for(role_arn), operation)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchEntity":
                raise RoleMissing(f"the IAM role {role_arn} does not exist") from error
            if code in _REJECTED:
                message = error.response.get("Error", {}).get("Message", "")
                raise PolicyRejected(f"IAM refused the policy ({code}): {message}") from error
            if code in _DENIED and operation in _WRITES:
                message = error.response.get("Error", {}).get("Message", "")
                raise PolicyRejected(f"IAM refused the write ({code}): {message}") from error
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _TRANSIENT or status >= 500:
                raise AwsUnavailable(f"IAM {operation}: {code or status}") from error
            raise
        except BotoCoreError as error:  # connection errors, read timeouts
            raise AwsUnavailable(f"IAM {operation}: {error}") from error

    def read(self, role_arn: str) -> RoleTrust:
        role = self._call("get_role", role_arn, RoleName=role_name_of(role_arn))["Role"]
        document = role["AssumeRolePolicyDocument"]
        if isinstance(document, str):  # the raw API sends URL-encoded JSON
            document = json.loads(unquote(document))
        return RoleTrust(
            role_arn=role_arn,
            role_id=role["RoleId"],
            trust_policy=document,
            max_session_seconds=int(role.get("MaxSessionDuration", 3600)),
        )

    def write_trust(self, role_arn: str, policy: dict) -> None:
        self._call(
            "update_assume_role_policy",
            role_arn,
            RoleName=role_name_of(role_arn),
            PolicyDocument=minified(policy),
        )

    def read_inline_policy(self, role_arn: str, policy_name: str) -> dict | None:
        """The role's inline policy ``policy_name``, or None if it has none by that name.

        Call after ``read``: NoSuchEntity here then means the policy, not the role, is missing.
        """
        try:
            answer = self._call(
                "get_role_policy",
                role_arn,
                RoleName=role_name_of(role_arn),
                PolicyName=policy_name,
            )
        except RoleMissing:
            return None
        document = answer["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(unquote(document))
        return document

    def other_inline_size(self, role_arn: str, except_name: str) -> int:
        """Characters, as IAM counts them (whitespace left out), of the role's inline
        policies other than ``except_name``: they count toward the same 10,240-character
        aggregate quota as the session-limit policy (AWS, "IAM and AWS STS quotas", role
        inline policy size). One ListRolePolicies, one GetRolePolicy per other policy."""
        names: list[str] = []
        marker = None
        while True:
            page = self._call(
                "list_role_policies",
                role_arn,
                RoleName=role_name_of(role_arn),
                **({"Marker": marker} if marker else {}),
            )
            names += page.get("PolicyNames", [])
            marker = page.get("Marker") if page.get("IsTruncated") else None
            if not marker:
                break
        total = 0
        for name in names:
            if name == except_name:
                continue
            document = self._call(
                "get_role_policy", role_arn, RoleName=role_name_of(role_arn), PolicyName=name
            )["PolicyDocument"]
            text = unquote(document) if isinstance(document, str) else _as_text(document)
            total += iam_characters(text)
        return total

    def write_inline_policy(self, role_arn: str, policy_name: str, policy: dict) -> None:
        self._call(
            "put_role_policy",
            role_arn,
            RoleName=role_name_of(role_arn),
            PolicyName=policy_name,
            PolicyDocument=minified(policy),
        )

    def delete_inline_policy(self, role_arn: str, policy_name: str) -> None:
        try:
            self._call(
                "delete_role_policy",
                role_arn,
                RoleName=role_name_of(role_arn),
                PolicyName=policy_name,
            )
        except RoleMissing:
            pass  # already gone: what we wanted

    def trust_quota(self, role_arn: str) -> int:
        """The AssumeRolePolicySizeQuota of the role's account (2,048 unless AWS raised it),
        read once per account."""
        if self._quota_override is not None:
            return self._quota_override
        account = account_of(role_arn)
        if account not in self._quotas:
            summary = self._call("get_account_summary", role_arn)["SummaryMap"]
            self._quotas[account] = int(
                summary.get("AssumeRolePolicySizeQuota", DEFAULT_TRUST_QUOTA)
            )
        return self._quotas[account]
