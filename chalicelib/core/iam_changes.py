"""IAM changes to managed roles, as CloudTrail reports them through EventBridge (pure).

A hand edit or an IaC apply that rewrites a managed role's trust policy or this deployment's
session-limit policy is drift: the sweep repairs it. Rather than read every role every minute
to find out, the sweep is told: an EventBridge rule on the CloudTrail events of those calls
(``event_pattern``, in deploy/template.yaml) invokes the sweep function with the event, and
``changed_role`` says which managed role it is about, or None. That role is then marked for a
check (chalicelib/aws/role_marks.py) and read at the next pass.

Which calls: ``UpdateAssumeRolePolicy`` (trust), ``PutRolePolicy`` and ``DeleteRolePolicy``
(the session-limit policy ``SwitchbackSessionLimits<tag>``; other inline policies are not
Switchback's), ``DeleteRole`` and ``CreateRole`` (a role deleted, or deleted and made again
with the same name and a fresh trust policy). Not ``AttachRolePolicy``: managed policies are
no part of what Switchback writes, and no Allow they add outweighs a session limit's Deny.

Not the broker's own writes: the events whose caller's session was issued to the broker's role
(or, in another account, to its manager role) are left out, in the pattern and again here.
Calls that failed (``errorCode``) changed nothing and are left out too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

DETAIL_TYPE = "AWS API Call via CloudTrail"
SOURCE = "aws.iam"
EVENT_SOURCE = "iam.amazonaws.com"
TRUST_CALLS = ("UpdateAssumeRolePolicy",)
INLINE_POLICY_CALLS = ("PutRolePolicy", "DeleteRolePolicy")
ROLE_CALLS = ("CreateRole", "DeleteRole")
WATCHED_CALLS = TRUST_CALLS + INLINE_POLICY_CALLS + ROLE_CALLS
# EventBridge's default limit on a rule's pattern (4,096 on request): the managed role names
# go into the pattern only while it stays within this; otherwise ``changed_role`` filters.
PATTERN_LIMIT = 2048


def role_name(role_arn: str) -> str:
    """``arn:aws:iam::123:role/path/Name`` -> ``Name`` (what CloudTrail's roleName holds)."""
    return role_arn.rsplit("/", 1)[-1]


def account_of(role_arn: str) -> str:
    return role_arn.split(":")[4]


def event_pattern(
    broker_arns: Sequence[object], role_names: Iterable[str] = (), limit: int = PATTERN_LIMIT
) -> dict:
    """The EventBridge rule's pattern: the watched IAM calls that succeeded, made by anyone but
    the broker (``broker_arns``: the IAM role ARNs its sessions are issued to; strings, or
    CloudFormation references for the template), on ``role_names`` when they fit ``limit``."""
    not_broker = [
        {"userIdentity": {"sessionContext": {"sessionIssuer": {"arn": [{"exists": False}]}}}},
        {
            "userIdentity": {
                "sessionContext": {"sessionIssuer": {"arn": [{"anything-but": list(broker_arns)}]}}
            }
        },
    ]
    detail: dict = {
        "eventSource": [EVENT_SOURCE],
        "eventName": list(WATCHED_CALLS),
        "errorCode": [{"exists": False}],
        "$or": not_broker,
    }
    pattern = {"source": [SOURCE], "detail-type": [DETAIL_TYPE], "detail": detail}
    names = sorted(set(role_names))
    if names:
        narrowed = {**pattern, "detail": {**detail, "requestParameters": {"roleName": names}}}
        if len(json.dumps(narrowed, separators=(",", ":"), default=str)) <= limit:
            return narrowed
    return pattern


def changed_role(
    event: dict,
    managed: Iterable[str],
    broker_arns: Iterable[str] = (),
    session_limits_policy: str | None = None,
) -> str | None:
    """The managed role (its ARN, as the policies name it) whose policies this CloudTrail event
    says someone changed, or None: another role, another call, a failed call, the broker's own
    write, or an inline policy that is not this deployment's ``session_limits_policy``."""
    if event.get("detail-type") != DETAIL_TYPE or event.get("source") != SOURCE:
        return None
    detail = event.get("detail") or {}
    if detail.get("eventSource") != EVENT_SOURCE or detail.get("errorCode"):
        return None
    call = detail.get("eventName")
    if call not in WATCHED_CALLS:
        return None
    identity = detail.get("userIdentity") or {}
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
    if issuer and issuer in set(broker_arns):
        return None
    parameters = detail.get("requestParameters") or {}
    name = parameters.get("roleName")
    if not isinstance(name, str):
        return None
    if call in INLINE_POLICY_CALLS and session_limits_policy is not None:
        if parameters.get("policyName") != session_limits_policy:
            return None
    account = detail.get("recipientAccountId") or event.get("account")
    for arn in managed:
        if role_name(arn) == name and account_of(arn) == account:
            return arn
    return None
