"""The policy types: people, roles and the catalog of both, as the policy files define them.

Pure values; chalicelib/policies.py reads and validates the TOML files that build them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from chalicelib.core.identity import SsoIdentity, is_sso

DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=1)
DEFAULT_BREAK_GLASS_MAX = timedelta(hours=1)
DEFAULT_BREAK_GLASS_REVIEW_WITHIN = timedelta(hours=24)
DEFAULT_MAX_SCHEDULE_AHEAD = timedelta(days=7)


@dataclass(frozen=True)
class Scope:
    """A named part of a role that may be asked for instead of all of it: the IAM action
    patterns its sessions may call (``ec2:Describe*``); everything else is denied to them."""

    name: str
    actions: tuple[str, ...]
    description: str = ""


# A role's webhook may be given as the ARN of the Secrets Manager secret holding its URL.
SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")


def is_secret_arn(value: object) -> bool:
    return isinstance(value, str) and SECRET_ARN.fullmatch(value) is not None


def secret_arns(catalog: Catalog) -> list[str]:
    """The secret ARNs the policies name as webhooks (the broker may read exactly these)."""
    found = {
        value
        for role in catalog.roles.values()
        for value in (role.webhook_url, role.break_glass_webhook_url)
        if is_secret_arn(value)
    }
    return sorted(found)


@dataclass(frozen=True)
class Person:
    slack_id: str
    name: str
    # The principal a grant trusts for them: their IAM user ARN, or their IAM Identity Center
    # principal (``<permission set role pattern>/<user name>``, chalicelib/core/identity.py).
    # Either way the part after the last "/" names their sessions.
    aws: str
    sso: SsoIdentity | None = None  # their Identity Center identity, if people.toml names one
    # Their IAM user when they have one but are granted through Identity Center
    # (people.toml: ``aws`` beside ``principal = "sso"``); not a field of its own there.
    iam_user_arn: str | None = field(default=None, metadata={"policy_field": False})

    @property
    def iam_user_name(self) -> str:
        """The name their granted sessions carry (an IAM user name, or an Identity Center
        user name): what trust pins and cuts go by."""
        return self.aws.rsplit("/", 1)[1]

    @property
    def session_name(self) -> str:
        return self.iam_user_name

    @property
    def is_sso(self) -> bool:
        """Whether their grants trust their Identity Center identity (not an IAM user)."""
        return is_sso(self.aws)

    @property
    def identities(self) -> tuple[str, ...]:
        """Every principal people.toml gives them (the granted one first)."""
        found = [self.aws]
        if self.iam_user_arn:
            found.append(self.iam_user_arn)
        if self.sso:
            found.append(self.sso.principal)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class RoleSpec:
    name: str
    role_arn: str
    description: str
    max_duration: timedelta
    default_duration: timedelta
    requesters: tuple[str, ...]  # Slack user ids and user group ids, or ("*",)
    approvers: tuple[str, ...]  # Slack user ids and user group ids (S0123ABCD)
    approvals_required: int = 1
    require_mfa: bool = False
    webhook_url: str | None = None
    approval_timeout: timedelta = DEFAULT_APPROVAL_TIMEOUT
    reason_pattern: str | None = None
    # A role in another account is changed through this role there (which the broker assumes);
    # None: the broker's own credentials change it.
    manager_role_arn: str | None = None
    # Granted sessions may assume other roles (a chained session can outlive the window by up
    # to one hour); by default the session-limit policy denies them that.
    allow_role_chaining: bool = False
    # /access breakglass: granted at once without approval, loud, reviewed afterwards.
    break_glass: bool = False
    break_glass_max: timedelta = DEFAULT_BREAK_GLASS_MAX
    # Who may break the glass: required with break_glass (policies.py); None or empty: nobody.
    break_glass_requesters: tuple[str, ...] | None = None
    break_glass_webhook_url: str | None = None
    break_glass_review_within: timedelta = DEFAULT_BREAK_GLASS_REVIEW_WITHIN
    # A request still pending this long is reminded once in the approvers' channel.
    remind_approvers_after: timedelta | None = None
    # An activity report from CloudTrail after each grant (core/activity.py), read in these
    # regions (None: the deployment's region and us-east-1, where global services record).
    activity_report: bool = True
    activity_regions: tuple[str, ...] | None = None
    # Named action lists a request may ask for (``scope=<name>``), in the file's order.
    scopes: tuple[Scope, ...] = ()
    # How far ahead a window may be scheduled (``at <time>``).
    max_schedule_ahead: timedelta = DEFAULT_MAX_SCHEDULE_AHEAD

    def scope(self, name: str) -> Scope | None:
        return next((s for s in self.scopes if s.name == name), None)

    @property
    def breakglass_requesters(self) -> tuple[str, ...]:
        """Never the role's requesters: break-glass eligibility is always explicit."""
        return self.break_glass_requesters or ()

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def aws_role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Catalog:
    people: dict[str, Person]
    roles: dict[str, RoleSpec]
    role_files: dict[str, str] = field(default_factory=dict)

    def person(self, slack_id: str) -> Person | None:
        return self.people.get(slack_id)

    def role(self, name: str) -> RoleSpec | None:
        return self.roles.get(name)

    def role_by_arn(self, arn: str) -> RoleSpec | None:
        return next((r for r in self.roles.values() if r.role_arn == arn), None)

    def managers(self) -> dict[str, str]:
        """Role ARN -> the manager role ARN to assume for it (roles that have one)."""
        return {r.role_arn: r.manager_role_arn for r in self.roles.values() if r.manager_role_arn}
