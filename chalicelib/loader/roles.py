"""One file under ``roles/``: its fields, each checked, into a RoleSpec.

Part of the policy loader (chalicelib/policies.py): every problem names the file and the field.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from chalicelib.core.catalog import (
    DEFAULT_APPROVAL_TIMEOUT,
    DEFAULT_BREAK_GLASS_MAX,
    DEFAULT_BREAK_GLASS_REVIEW_WITHIN,
    DEFAULT_MAX_SCHEDULE_AHEAD,
    Person,
    RoleSpec,
    Scope,
    is_secret_arn,
)
from chalicelib.core.durations import DurationError, format_duration, parse_duration
from chalicelib.core.groups import is_group
from chalicelib.core.scopes import scope_problems
from chalicelib.loader.people import REGION

# re.ASCII: IAM names are ASCII, and \w would also match other scripts' letters. \Z, not $:
# $ also matches before a trailing newline, which IAM would then reject at grant time.
ROLE_ARN = re.compile(
    r"^arn:(aws(?:-cn|-us-gov)?):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})\Z",
    re.ASCII,
)
ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
# How far ahead a window may be scheduled at most, whatever a role file says.
LONGEST_SCHEDULE_AHEAD = timedelta(days=90)

_ROLE_FIELDS = {
    "role_arn",
    "description",
    "max_duration",
    "default_duration",
    "requesters",
    "approvers",
    "approvals_required",
    "require_mfa",
    "webhook_url",
    "approval_timeout",
    "reason_pattern",
    "manager_role_arn",
    "allow_role_chaining",
    "break_glass",
    "break_glass_max",
    "break_glass_requesters",
    "break_glass_webhook_url",
    "break_glass_review_within",
    "remind_approvers_after",
    "activity_report",
    "activity_regions",
    "scopes",
    "max_schedule_ahead",
}


def manager_problem(manager: object, account: str | None) -> str | None:
    """Why ``manager`` cannot be the manager role of a role in ``account``, or None."""
    match = ROLE_ARN.match(manager) if isinstance(manager, str) else None
    if not match:
        return f"'{manager}' is not an IAM role ARN (arn:aws:iam::210987654321:role/name)"
    if account and match.group(2) != account:
        return (
            f"the manager role must be in the same account as the role ({account}), "
            f"not {match.group(2)}"
        )
    return None


def parse_role(
    path: Path, doc: dict, people: dict[str, Person], problems: list[str]
) -> RoleSpec | None:
    name = path.stem
    before = len(problems)

    def problem(field_name: str, text: str) -> None:
        problems.append(f"{path}: {field_name}: {text}")

    if not ROLE_NAME.match(name):
        problem("(file name)", f"'{name}' must be lower-case letters, digits and dashes")
    for unknown in sorted(set(doc) - _ROLE_FIELDS):
        problem(unknown, "unknown field")
    role_arn = doc.get("role_arn")
    if not isinstance(role_arn, str) or not ROLE_ARN.match(role_arn):
        problem(
            "role_arn", f"'{role_arn}' is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"
        )
    description = doc.get("description", "")
    if not isinstance(description, str):
        problem("description", "must be text")
        description = ""

    def duration(
        field_name: str, default: timedelta | None, required: bool = False
    ) -> timedelta | None:
        raw = doc.get(field_name)
        if raw is None:
            if required:
                problem(field_name, 'required, like "4h"')
            return default
        if not isinstance(raw, str):
            problem(field_name, f'must be text like "4h", not {raw!r}')
            return None
        try:
            return parse_duration(raw)
        except DurationError as error:
            problem(field_name, str(error))
            return None

    max_duration = duration("max_duration", None, required=True)
    default_duration = duration("default_duration", max_duration)
    approval_timeout = duration("approval_timeout", DEFAULT_APPROVAL_TIMEOUT)
    if max_duration and default_duration and default_duration > max_duration:
        problem(
            "default_duration",
            f"{format_duration(default_duration)} is over max_duration "
            f"{format_duration(max_duration)}",
        )
    if max_duration and max_duration > timedelta(hours=12):
        problem("max_duration", "at most 12h (the longest session IAM allows a role)")

    requesters = id_list(doc, "requesters", people, problem, allow_star=True)
    approvers = id_list(doc, "approvers", people, problem, allow_star=False)
    approvals_required = doc.get("approvals_required", 1)
    if (
        not isinstance(approvals_required, int)
        or isinstance(approvals_required, bool)
        or approvals_required < 1
    ):
        problem(
            "approvals_required",
            f"must be a whole number of at least 1, not {approvals_required!r}",
        )
    elif approvers is not None and any(is_group(a) for a in approvers):
        pass  # a group's size is Slack's to say, at decision time
    elif approvers is not None and approvals_required > len(approvers):
        problem(
            "approvals_required", f"{approvals_required} but only {len(approvers)} approvers listed"
        )
    elif approvers is not None and requesters is not None:
        # The requester never counts: an approver named as a requester needs enough others.
        # ("*" is left alone: a sole approver who never asks for the role is a common setup.)
        self_requesting = [a for a in approvers if a in requesters]
        if self_requesting and approvals_required > len(approvers) - 1:
            problem(
                "approvals_required",
                f"{approvals_required} can never be reached when {self_requesting[0]}, an "
                f"approver, requests it (the requester never counts; {len(approvers) - 1} "
                "others are listed)",
            )
    require_mfa = doc.get("require_mfa", False)
    if not isinstance(require_mfa, bool):
        problem("require_mfa", "must be true or false")
    webhook_url = doc.get("webhook_url")
    if webhook_url is not None and not is_webhook(webhook_url):
        problem("webhook_url", WEBHOOK_PROBLEM)
    manager_role_arn = doc.get("manager_role_arn")
    if manager_role_arn is not None:
        role_match = ROLE_ARN.match(role_arn) if isinstance(role_arn, str) else None
        why_not = manager_problem(manager_role_arn, role_match.group(2) if role_match else None)
        if why_not:
            problem("manager_role_arn", why_not)
    allow_role_chaining = doc.get("allow_role_chaining", False)
    if not isinstance(allow_role_chaining, bool):
        problem("allow_role_chaining", "must be true or false")
    reason_pattern = doc.get("reason_pattern")
    if reason_pattern is not None:
        from chalicelib.core.patterns import PatternError, compile_pattern

        if not isinstance(reason_pattern, str):
            problem("reason_pattern", "not a regular expression (expected a string)")
        else:
            try:
                compile_pattern(reason_pattern)  # RE2: linear time, or refused here
            except PatternError as error:
                problem("reason_pattern", str(error))
    break_glass = doc.get("break_glass", False)
    if not isinstance(break_glass, bool):
        problem("break_glass", "must be true or false")
        break_glass = False
    break_glass_max = duration("break_glass_max", DEFAULT_BREAK_GLASS_MAX)
    if max_duration and break_glass_max and break_glass_max > max_duration:
        if "break_glass_max" in doc:
            problem(
                "break_glass_max",
                f"{format_duration(break_glass_max)} is over max_duration "
                f"{format_duration(max_duration)}",
            )
        else:
            break_glass_max = max_duration  # the default never exceeds the role's own limit
    review_within = duration("break_glass_review_within", DEFAULT_BREAK_GLASS_REVIEW_WITHIN)
    break_glass_requesters = None
    if "break_glass_requesters" in doc:
        # Named people or Slack user groups only: break-glass skips approval, so who may use it
        # is always written out, never "*" and never the role's requesters by default.
        break_glass_requesters = id_list(
            doc, "break_glass_requesters", people, problem, allow_star=False
        )
    elif break_glass:
        problem(
            "break_glass_requesters",
            "required with break_glass = true: the Slack user IDs from people.toml or Slack "
            "user group IDs who may break the glass (it never defaults to the requesters)",
        )
    break_glass_webhook_url = doc.get("break_glass_webhook_url")
    if break_glass_webhook_url is not None and not is_webhook(break_glass_webhook_url):
        problem("break_glass_webhook_url", WEBHOOK_PROBLEM)
    if not break_glass:
        for only in (
            "break_glass_max",
            "break_glass_requesters",
            "break_glass_webhook_url",
            "break_glass_review_within",
        ):
            if only in doc:
                problem(only, "has no effect without break_glass = true")
    remind_approvers_after = duration("remind_approvers_after", None)
    activity_report, activity_regions = parse_activity(doc, problem)
    scopes = parse_scopes(doc, problem)
    max_schedule_ahead = duration("max_schedule_ahead", DEFAULT_MAX_SCHEDULE_AHEAD)
    if max_schedule_ahead and max_schedule_ahead > LONGEST_SCHEDULE_AHEAD:
        problem(
            "max_schedule_ahead",
            f"{format_duration(max_schedule_ahead)} is over "
            f"{format_duration(LONGEST_SCHEDULE_AHEAD)}, the furthest a window may be scheduled",
        )
    if len(problems) != before:
        return None
    return RoleSpec(
        name=name,
        role_arn=role_arn,
        description=description.strip(),
        max_duration=max_duration,
        default_duration=default_duration,
        requesters=requesters,
        approvers=approvers,
        approvals_required=approvals_required,
        require_mfa=require_mfa,
        webhook_url=webhook_url,
        approval_timeout=approval_timeout,
        reason_pattern=reason_pattern,
        manager_role_arn=manager_role_arn,
        allow_role_chaining=allow_role_chaining,
        break_glass=break_glass,
        break_glass_max=break_glass_max,
        break_glass_requesters=break_glass_requesters,
        break_glass_webhook_url=break_glass_webhook_url,
        break_glass_review_within=review_within,
        remind_approvers_after=remind_approvers_after,
        activity_report=activity_report,
        activity_regions=activity_regions,
        scopes=scopes,
        max_schedule_ahead=max_schedule_ahead,
    )


def parse_scopes(doc: dict, problem) -> tuple[Scope, ...]:
    """``[scopes.<name>] actions = ["ec2:Describe*", …]`` (optional ``description``): the
    parts of the role a request may ask for, validated by core/scopes.py."""
    raw = doc.get("scopes")
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        problem("scopes", 'must be tables like [scopes.read-only] actions = ["ec2:Describe*"]')
        return ()
    found = []
    for name, entry in raw.items():
        scope, wrong = scope_problems(name, entry)
        for text in wrong:
            field_name, _, detail = text.partition(": ")
            problem(field_name, detail)
        if scope is not None:
            found.append(scope)
    return tuple(found)


def parse_activity(doc: dict, problem) -> tuple[bool, tuple[str, ...] | None]:
    """``activity_report`` (default true) and ``activity_regions`` (region names, or unset
    for the deployment's region plus us-east-1)."""
    enabled = doc.get("activity_report", True)
    if not isinstance(enabled, bool):
        problem("activity_report", f"must be true or false, not {enabled!r}")
        enabled = True
    raw = doc.get("activity_regions")
    if raw is None:
        return enabled, None
    if not enabled:
        problem("activity_regions", "has no effect with activity_report = false")
        return enabled, None
    if not isinstance(raw, list) or not raw:
        problem("activity_regions", 'must be a list of AWS region names, like ["eu-west-1"]')
        return enabled, None
    wrong = [r for r in raw if not isinstance(r, str) or not REGION.match(r)]
    if wrong:
        problem(
            "activity_regions",
            f"{', '.join(repr(r) for r in wrong)}: not an AWS region name (like eu-west-1)",
        )
        return enabled, None
    return enabled, tuple(dict.fromkeys(raw))


# A webhook may be named by the ARN of a Secrets Manager secret holding its URL (read when a
# message is sent; the broker may read exactly those secrets), so the URL is in no file.
WEBHOOK_PROBLEM = (
    "must be an http(s) URL or the ARN of a Secrets Manager secret holding one "
    "(arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
)


def is_webhook(value: object) -> bool:
    return isinstance(value, str) and (
        value.startswith(("https://", "http://")) or is_secret_arn(value)
    )


def id_list(
    doc: dict, field_name: str, people: dict[str, Person], problem, allow_star: bool
) -> tuple[str, ...] | None:
    raw = doc.get(field_name)
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        problem(
            field_name,
            "required: a list of Slack user IDs from people.toml or Slack user group IDs"
            + (' (or ["*"])' if allow_star else ""),
        )
        return None
    if allow_star and raw == ["*"]:
        return ("*",)
    # A user group (S0123ABCD) is resolved with Slack at decision time; its members still
    # need their own entry in people.toml to be granted or to decide anything.
    unknown = [x for x in raw if x not in people and not is_group(x)]
    if unknown:
        problem(
            field_name,
            f"{', '.join(unknown)} not in people.toml (nor a Slack user group ID like S0123ABCD)",
        )
        return None
    return tuple(dict.fromkeys(raw))


def check_unique_arns(
    roles: dict[str, RoleSpec], files: dict[str, str], problems: list[str]
) -> None:
    # IAM role names are unique in an account whatever their case or path, so ``role/Admin``
    # and ``role/ops/admin`` cannot be two roles: compare partition, account and folded name.
    seen: dict[tuple[str, str, str], str] = {}
    for spec in roles.values():
        partition, account, name = ROLE_ARN.match(spec.role_arn).groups()
        key = (partition, account, name.lower())
        if key in seen:
            problems.append(
                f"{files[spec.name]}: role_arn: same role as {files[seen[key]]}"
                " (one file per AWS role, so grants share one lock and one quota)"
            )
        seen.setdefault(key, spec.name)
