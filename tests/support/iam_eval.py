"""An independent reading of IAM policy documents, written from AWS's documentation only (not
from Switchback's code), for the statements Switchback writes.

principalmapper 1.1.5's local_policy_simulation was the first choice, but it does not import
on Python 3.10+ (``collections.Mapping``) and it never substitutes policy variables such as
``${aws:username}`` in condition values, on which the shared trust statements rest.

Sources (IAM User Guide):
- Policy evaluation logic, "Determining whether a request is allowed or denied within an
  account": an explicit Deny in any applicable policy wins; otherwise an Allow allows;
  otherwise the request is implicitly denied.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Condition element, "Creating a condition with multiple context keys or values": condition
  operators and keys in one statement are ANDed; several values for one key are ORed; a key
  missing from the request context makes (non-IfExists, non-negated) operators false.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
- Condition operators: String (``StringEquals`` case-sensitive, ``StringEqualsIgnoreCase``
  "exact matching, ignoring case", ``StringLike`` case-sensitive with ``*`` and ``?``
  wildcards), Date (``DateLessThan``, ``DateGreaterThan``, ``DateGreaterThanEquals``…),
  Boolean. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- Policy variables: ``${aws:username}`` is replaced by the request's value; a variable with
  no value in the request makes the comparison fail.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
- Global condition keys: ``aws:userid`` of an assumed-role session is
  ``<role id>:<role session name>``; ``aws:TokenIssueTime``, ``aws:CurrentTime``,
  ``aws:username`` (IAM users only).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
- Role trust policies are resource-based: the caller must match ``Principal``.
- Action element: "The prefix and the action name are case insensitive"; the wildcards ``*``
  (any run of characters) and ``?`` (one character) may stand in an action name
  (``iam:*AccessKey*``).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
- NotAction element: a statement with ``NotAction`` matches every action *except* those
  listed; with ``"Effect": "Deny"`` the unlisted actions are denied, and the listed ones are
  left to the other statements ("This combination does not allow the listed items, but
  instead explicitly denies the actions not listed").
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html

Callers that are role sessions (an IAM Identity Center person's session, say), IAM User Guide:
- Global condition keys, aws:PrincipalArn: for a role session it is the ARN of the *role*
  (``arn:aws:iam::<acct>:role/<path><name>``, with the role's path), not of the session;
  aws:PrincipalAccount: the caller's account; aws:PrincipalType: ``AssumedRole``;
  aws:userid: ``<role id>:<role session name>``; aws:username: not present.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
- AWS JSON policy elements: Principal: an account principal (``arn:aws:iam::<acct>:root``
  or the bare account ID) stands for every principal of that account (whose own policies
  must then allow the call too, assumed here); a role ARN stands for the role's sessions;
  an assumed-role session ARN for that session only; no wildcards inside an ARN.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
- Condition operators, ARN: ``ArnLike`` compares each of the six colon-delimited parts of
  the ARN separately, ``*`` and ``?`` matching within a part; ``ArnEquals`` behaves alike
  in IAM (it too takes wildcards).
- Available keys for AWS STS, sts:RoleSessionName: the session name the caller asks for;
  policy variables: a global key or a service's key present in the request can be used as a
  variable (``${sts:RoleSessionName}``).
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html
- Role chaining (a role session assuming a role) limits the new session to one hour.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, text: str, case_sensitive: bool = True) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, 0 if case_sensitive else re.IGNORECASE) is not None


def _substitute(value: str, context: dict) -> str | None:
    """Replace ``${key}`` by the context's value; None if a variable has no value."""
    missing = False

    def lookup(match: re.Match) -> str:
        nonlocal missing
        found = context.get(match.group(1))
        if found is None:
            missing = True
            return ""
        return str(found)

    replaced = re.sub(r"\$\{([^}]+)\}", lookup, value)
    return None if missing else replaced


def _date(value) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    text = str(value)
    if re.fullmatch(r"\d+", text):  # epoch seconds are allowed too
        return datetime.fromtimestamp(int(text), UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _operator(name: str, policy_value, context_value, context: dict) -> bool:
    if name in ("StringEquals", "StringLike", "StringEqualsIgnoreCase"):
        value = _substitute(str(policy_value), context)
        if value is None:
            return False
        if name == "StringEquals":
            return value == str(context_value)
        if name == "StringEqualsIgnoreCase":  # exact match, ignoring case; no wildcards
            return value.casefold() == str(context_value).casefold()
        return _wildcard(value, str(context_value))
    if name.startswith("Date"):
        left, right = _date(context_value), _date(policy_value)
        return {
            "DateEquals": left == right,
            "DateLessThan": left < right,
            "DateLessThanEquals": left <= right,
            "DateGreaterThan": left > right,
            "DateGreaterThanEquals": left >= right,
        }[name]
    if name == "Bool":
        return str(policy_value).lower() == str(context_value).lower()
    if name in ("ArnLike", "ArnEquals"):
        value = _substitute(str(policy_value), context)
        return value is not None and _arn_like(value, str(context_value))
    raise NotImplementedError(f"condition operator {name} is not modelled here")


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, keys in condition.items():
        for key, values in keys.items():
            if key not in context:
                return False  # a missing key never matches a non-IfExists operator
            if not any(_operator(operator, v, context[key], context) for v in _as_list(values)):
                return False
    return True


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: the six colon-delimited parts match one by one (the last may hold colons)."""
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(_wildcard(w, g) for w, g in zip(wanted, given, strict=True))


@dataclass(frozen=True)
class Caller:
    """Who calls: an IAM user (``arn`` its ARN) or a role session (``arn`` the session's
    ``arn:aws:sts::<acct>:assumed-role/<role name>/<session>``, ``role_arn`` the role's ARN
    with its path)."""

    arn: str
    role_arn: str | None = None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]


def _principal_matches(statement: dict, principal: str | Caller | None) -> bool:
    if "Principal" not in statement:
        return True  # identity-based policy: applies to its own principal
    named = statement["Principal"]
    if named == "*":
        return True
    aws = _as_list(named.get("AWS", [])) if isinstance(named, dict) else []
    if principal is None:
        return False
    caller = principal if isinstance(principal, Caller) else Caller(principal)
    partition = caller.arn.split(":")[1]
    for entry in aws:
        if entry == "*" or entry == caller.arn:
            return True
        if entry in (caller.account, f"arn:{partition}:iam::{caller.account}:root"):
            return True  # the account: every principal of it
        if caller.role_arn is not None and entry == caller.role_arn:
            return True  # the role: its sessions
    return False


def _action_matches(statement: dict, action: str) -> bool:
    """Action: the request's action matches one listed; NotAction: it matches none of them.
    Both compare without regard to case, with ``*`` and ``?`` wildcards (see the sources)."""
    if "NotAction" in statement:
        listed = _as_list(statement["NotAction"])
        return not any(_wildcard(a, action, case_sensitive=False) for a in listed)
    return any(_wildcard(a, action, case_sensitive=False) for a in _as_list(statement["Action"]))


def decide(
    policies: list[dict | None], action: str, context: dict, principal: str | Caller | None = None
) -> str:
    """Evaluate every statement of ``policies`` for one request; deny beats allow."""
    allowed = False
    for policy in policies:
        if not policy:
            continue
        for statement in _as_list(policy.get("Statement", [])):
            if not (
                _principal_matches(statement, principal)
                and _action_matches(statement, action)
                and _condition_holds(statement.get("Condition", {}), context)
            ):
                continue
            if statement["Effect"] == "Deny":
                return DENY
            allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def can_assume(
    trust_policy: dict, user_arn: str, session_name: str, at: datetime, mfa: bool = False
) -> bool:
    """Whether IAM user ``user_arn`` may call sts:AssumeRole with ``session_name`` at ``at``
    (its own identity policy is assumed to allow the call)."""
    context = {
        "aws:PrincipalArn": user_arn,
        "aws:username": user_arn.rsplit("/", 1)[1],
        "aws:userid": "AIDA" + user_arn.rsplit("/", 1)[1].upper(),
        "sts:RoleSessionName": session_name,
        "aws:CurrentTime": at,
        "aws:MultiFactorAuthPresent": "true" if mfa else "false",
    }
    return decide([trust_policy], "sts:AssumeRole", context, principal=user_arn) == ALLOW


def can_assume_from_role(
    trust_policy: dict,
    role_arn: str,
    role_id: str,
    caller_session: str,
    session_name: str,
    at: datetime,
    mfa: bool | None = None,
) -> bool:
    """Whether a session named ``caller_session`` of role ``role_arn`` (with its path; id
    ``role_id``) may call sts:AssumeRole with ``session_name`` at ``at``: an Identity Center
    person's session is one of the permission set's role, named after their user name.
    ``mfa`` None: aws:MultiFactorAuthPresent absent from the request (its own permissions are
    assumed to allow the call)."""
    account, role_name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    partition = role_arn.split(":")[1]
    caller = Caller(
        f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{caller_session}", role_arn
    )
    context = {
        "aws:PrincipalArn": role_arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "AssumedRole",
        "aws:userid": f"{role_id}:{caller_session}",
        "sts:RoleSessionName": session_name,
        "aws:CurrentTime": at,
    }
    if mfa is not None:
        context["aws:MultiFactorAuthPresent"] = "true" if mfa else "false"
    return decide([trust_policy], "sts:AssumeRole", context, principal=caller) == ALLOW


# What the role itself grants its sessions (e.g. AmazonEC2FullAccess): everything, here.
ROLE_PERMISSIONS = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def session_may(
    role_policies: list[dict | None],
    role_id: str,
    session_name: str,
    issued: datetime,
    at: datetime,
    action: str = "ec2:DescribeInstances",
) -> bool:
    """Whether a session of the role named ``session_name``, issued at ``issued``, may call
    ``action`` at ``at``, under the role's permissions plus ``role_policies``."""
    context = {
        "aws:userid": f"{role_id}:{session_name}",
        "aws:TokenIssueTime": issued,
        "aws:CurrentTime": at,
    }
    return decide([ROLE_PERMISSIONS, *role_policies], action, context) == ALLOW
