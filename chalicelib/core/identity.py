"""IAM Identity Center identities: who a grant trusts when a person signs in through Identity
Center instead of holding an IAM user (pure).

When a permission set is assigned to an account, Identity Center creates a role there named
``AWSReservedSSO_<permission set>_<unique suffix>`` under the path
``/aws-reserved/sso.amazonaws.com/<region>/``; the suffix changes whenever the role is
created again (AWS IAM Identity Center User Guide, "Referencing permission sets in resource
policies, Amazon EKS, and AWS KMS",
https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html).
A person signed in through Identity Center holds a session of that role, named after their
Identity Center user name (e.g. ``alice@example.com``).

Switchback names such a person, wherever it names a principal (a request's ``principal_arn``,
the keys ``trust.trusted`` returns), by one string:

    <the permission set's role ARN, suffix as 16 ``?``>/<user name>

It starts with ``arn:`` like every principal Switchback writes, and, as for an IAM user ARN,
the part after the last ``/`` is the session name the person's granted sessions carry (a
session name holds no ``/``). The ARN part, with its ``?``, is exactly the ``ArnLike`` value
the trust statement carries (chalicelib/core/trust.py): ``?`` matches one character, so the
pattern matches the permission set's role whatever its suffix, and not the role of another
permission set whose name merely begins with this one's (``Admin`` vs ``Admin_ReadOnly``).
The 16 characters are the suffix length AWS documents in its examples; were it ever
different, the grant would refuse the person (it fails closed), never admit someone else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SSO_PATH = "aws-reserved/sso.amazonaws.com/"
SUFFIX_LENGTH = 16
ROLE_PREFIX = "AWSReservedSSO_"
# A permission set's name: 1 to 32 of these characters (SSO Admin API, CreatePermissionSet,
# Name: pattern [\w+=,.@-]+, length 1-32). The role name then stays within IAM's 64.
PERMISSION_SET = re.compile(r"[\w+=,.@-]{1,32}", re.ASCII)
# A role session name: 2 to 64 of these characters (STS API, AssumeRole, RoleSessionName).
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)

_PRINCIPAL = re.compile(
    r"(arn:(aws(?:-cn|-us-gov)?):iam::(\d{12}):role/"
    + re.escape(SSO_PATH)
    + r"(?:([a-z0-9-]+)/)?"
    + re.escape(ROLE_PREFIX)
    + r"([\w+=,.@-]{1,32})_"
    + r"\?{16})/([\w+=,.@-]{2,64})",
    re.ASCII,
)


@dataclass(frozen=True)
class SsoIdentity:
    """One person as IAM Identity Center signs them into one account."""

    account: str
    permission_set: str
    user: str  # their Identity Center user name: the session name of their sessions
    region: str | None  # the Identity Center region, as the role's path shows it; None: none
    partition: str = "aws"

    @property
    def role_pattern(self) -> str:
        """The ``ArnLike`` pattern of the permission set's role in the account."""
        path = SSO_PATH + (f"{self.region}/" if self.region else "")
        suffix = "?" * SUFFIX_LENGTH
        return (
            f"arn:{self.partition}:iam::{self.account}:role/"
            f"{path}{ROLE_PREFIX}{self.permission_set}_{suffix}"
        )

    @property
    def principal(self) -> str:
        """How Switchback names this person as a principal (see the module's docstring)."""
        return f"{self.role_pattern}/{self.user}"

    @property
    def account_root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:root"


def is_sso(principal: str) -> bool:
    """Whether ``principal`` names an Identity Center person (not an IAM user)."""
    return _PRINCIPAL.fullmatch(principal) is not None


def parse(principal: str) -> SsoIdentity | None:
    """The identity a principal string of Switchback names, or None (an IAM user ARN, …)."""
    match = _PRINCIPAL.fullmatch(principal)
    if not match:
        return None
    _, partition, account, region, permission_set, user = match.groups()
    return SsoIdentity(account, permission_set, user, region, partition)


def split(principal: str) -> tuple[str, str]:
    """``(role pattern, user name)`` of an Identity Center principal string."""
    pattern, _, user = principal.rpartition("/")
    return pattern, user


def describe(principal: str) -> str:
    """Who a principal string names, in words (the review page)."""
    found = parse(principal)
    if found is None:
        return f"IAM user {principal.rsplit('/', 1)[-1]}"
    return (
        f"IAM Identity Center user {found.user}, permission set {found.permission_set} "
        f"in account {found.account}"
    )
