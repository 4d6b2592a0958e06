"""Who may request which role, and who approves: the loader of the TOML files under ``policies/``.

Loaded once per process and validated whole; every error names the file and the field, so a
bad edit stops the stack at start instead of surprising someone at approval time.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from chalicelib.core.catalog import (
    DEFAULT_APPROVAL_TIMEOUT,
    DEFAULT_BREAK_GLASS_MAX,
    DEFAULT_BREAK_GLASS_REVIEW_WITHIN,
    DEFAULT_MAX_SCHEDULE_AHEAD,
    Catalog,
    Person,
    RoleSpec,
    Scope,
    is_secret_arn,
)
from chalicelib.core.durations import DurationError, format_duration, parse_duration
from chalicelib.core.groups import is_group
from chalicelib.core.identity import PERMISSION_SET, ROLE_PREFIX, SESSION_NAME, SsoIdentity
from chalicelib.core.scopes import scope_problems

# re.ASCII: IAM names are ASCII, and \w would also match other scripts' letters. \Z, not $:
# $ also matches before a trailing newline, which IAM would then reject at grant time.
ROLE_ARN = re.compile(
    r"^arn:(aws(?:-cn|-us-gov)?):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})\Z",
    re.ASCII,
)
USER_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:iam::(\d{12}):user/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})\Z",
    re.ASCII,
)
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}\Z")
ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
# How far ahead a window may be scheduled at most, whatever a role file says.
LONGEST_SCHEDULE_AHEAD = timedelta(days=90)
# An AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5.
REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}\Z")


class PolicyError(ValueError):
    """One or more problems in the policy files, each naming its file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid policies:\n  " + "\n  ".join(problems))


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
_PERSON_FIELDS = {"name", "aws", "sso", "principal"}
_SSO_FIELDS = {"account", "permission_set", "user", "region", "region_in_path", "partition"}
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
_ACCOUNT_FIELDS = {"manager_role_arn"}


def load_catalog(directory: str | Path) -> Catalog:
    """Read ``people.toml``, ``roles/*.toml`` and the optional ``accounts.toml``; raise
    PolicyError listing every problem."""
    root = Path(directory)
    problems: list[str] = []
    people_file = root / "people.toml"
    people: dict[str, Person] = {}
    people_doc = _read_toml(people_file, problems)
    if people_doc is not None:
        people = _parse_people(people_doc, people_file, problems)
    _check_unique_sessions(people, people_file, problems)
    _check_unique_identities(
        {k: p for k, p in people.items() if not p.is_sso}, people_file, problems
    )
    account_managers = _parse_accounts(root / "accounts.toml", problems)
    roles: dict[str, RoleSpec] = {}
    role_files: dict[str, str] = {}
    roles_dir = root / "roles"
    if not roles_dir.is_dir():
        problems.append(f"{roles_dir}: folder missing (one TOML file per requestable role)")
    else:
        for path in sorted(roles_dir.glob("*.toml")):
            doc = _read_toml(path, problems)
            if doc is None:
                continue
            spec = _parse_role(path, doc, people, problems)
            if spec is not None and spec.manager_role_arn is None:
                spec = replace(spec, manager_role_arn=account_managers.get(spec.account_id))
            if spec is not None:
                roles[spec.name] = spec
                role_files[spec.name] = str(path)
    _check_unique_arns(roles, role_files, problems)
    if problems:
        raise PolicyError(problems)
    return Catalog(people=people, roles=roles, role_files=role_files)


def _read_toml(path: Path, problems: list[str]) -> dict | None:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problems.append(f"{path}: file missing")
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path}: not valid TOML ({error})")
    except OSError as error:
        problems.append(f"{path}: unreadable ({error.strerror})")
    return None


def _parse_accounts(path: Path, problems: list[str]) -> dict[str, str]:
    """``accounts.toml`` (optional): ``[accounts."<id>"] manager_role_arn = "..."`` for every
    role in that account whose own file names no manager."""
    if not path.exists():
        return {}
    doc = _read_toml(path, problems)
    if doc is None:
        return {}
    table = doc.get("accounts")
    if not isinstance(table, dict):
        problems.append(f'{path}: [accounts."<account id>"] tables missing')
        return {}
    managers: dict[str, str] = {}
    for account, entry in table.items():
        where = f"{path}: accounts.{account}"
        if not re.fullmatch(r"\d{12}", account):
            problems.append(f"{where}: '{account}' is not a 12-digit AWS account ID")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table with manager_role_arn")
            continue
        for unknown in sorted(set(entry) - _ACCOUNT_FIELDS):
            problems.append(f"{where}.{unknown}: unknown field")
        manager = entry.get("manager_role_arn")
        problem = _manager_problem(manager, account)
        if problem:
            problems.append(f"{where}.manager_role_arn: {problem}")
            continue
        managers[account] = manager
    return managers


def _manager_problem(manager: object, account: str | None) -> str | None:
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


def _parse_people(doc: dict, path: Path, problems: list[str]) -> dict[str, Person]:
    table = doc.get("people")
    if not isinstance(table, dict) or not table:
        problems.append(f"{path}: [people.<SlackUserID>] tables missing")
        return {}
    people: dict[str, Person] = {}
    for slack_id, entry in table.items():
        where = f"{path}: people.{slack_id}"
        if not SLACK_USER_ID.match(slack_id):
            problems.append(f"{where}: '{slack_id}' is not a Slack user ID (like U0123ABCD)")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table with name and aws")
            continue
        for unknown in sorted(set(entry) - _PERSON_FIELDS):
            problems.append(f"{where}.{unknown}: unknown field")
        name, aws = entry.get("name"), entry.get("aws")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}.name: required text")
            continue
        if "sso" in entry or "principal" in entry:
            person = _sso_person(slack_id, name.strip(), entry, where, problems)
            if person is not None:
                people[slack_id] = person
            continue
        if not isinstance(aws, str) or not USER_ARN.match(aws):
            problems.append(
                f"{where}.aws: '{aws}' is not an IAM user ARN (arn:aws:iam::123456789012:user/name)"
            )
            continue
        people[slack_id] = Person(slack_id=slack_id, name=name.strip(), aws=aws)
    return people


def _sso_person(
    slack_id: str, name: str, entry: dict, where: str, problems: list[str]
) -> Person | None:
    """A person with an IAM Identity Center identity (``sso``), and maybe an IAM user too.
    Their grants trust the IAM user if they have one, unless ``principal = "sso"``."""
    before = len(problems)
    aws = entry.get("aws")
    if aws is not None and (not isinstance(aws, str) or not USER_ARN.match(aws)):
        problems.append(
            f"{where}.aws: '{aws}' is not an IAM user ARN (arn:aws:iam::123456789012:user/name)"
        )
    sso = _parse_sso(entry.get("sso"), f"{where}.sso", problems) if "sso" in entry else None
    if "sso" not in entry:
        problems.append(
            f'{where}.principal: only for a person with both aws and sso (principal = "sso" '
            "grants through Identity Center)"
        )
    principal = entry.get("principal", "iam" if aws is not None else "sso")
    if principal not in ("iam", "sso"):
        problems.append(f'{where}.principal: must be "iam" or "sso", not {principal!r}')
    elif principal == "iam" and aws is None and "principal" in entry:
        problems.append(f'{where}.principal: "iam" needs an IAM user in aws')
    if len(problems) != before or sso is None:
        return None
    if principal == "sso":
        return Person(slack_id, name, sso.principal, sso=sso, iam_user_arn=aws)
    return Person(slack_id, name, aws, sso=sso)


def _parse_sso(raw: object, where: str, problems: list[str]) -> SsoIdentity | None:
    """``sso = { account = "<12 digits>", permission_set = "<name>", user = "<user name>",
    region = "<Identity Center region>" }``: the person's Identity Center sessions in the
    account, through the permission set's role there."""
    example = (
        'sso = { account = "123456789012", permission_set = "Operator", '
        'user = "alice@example.com", region = "eu-west-1" }'
    )
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a table, like {example}")
        return None
    before = len(problems)
    for unknown in sorted(set(raw) - _SSO_FIELDS):
        problems.append(f"{where}.{unknown}: unknown field (expected {example})")
    account = raw.get("account")
    if isinstance(account, int) and not isinstance(account, bool):
        problems.append(
            f"{where}.account: write the 12-digit account ID as text, in quotes "
            '(account = "012345678901"): a TOML number loses leading zeros'
        )
    elif not isinstance(account, str) or not re.fullmatch(r"\d{12}", account):
        problems.append(f"{where}.account: {account!r} is not a 12-digit AWS account ID")
    permission_set = raw.get("permission_set")
    if not isinstance(permission_set, str):
        problems.append(f"{where}.permission_set: required, the permission set's name")
    elif "/" in permission_set or ":" in permission_set:
        problems.append(
            f"{where}.permission_set: '{permission_set}' is a path or an ARN; give the "
            "permission set's name only (like AdministratorAccess): Switchback writes the role's "
            "path aws-reserved/sso.amazonaws.com/<region>/ itself, from region"
        )
    elif permission_set.startswith(ROLE_PREFIX):
        problems.append(
            f"{where}.permission_set: '{permission_set}' is the name of the role Identity Center "
            f"made; give the permission set's name only (what follows {ROLE_PREFIX}, without "
            "the _<suffix>, which changes whenever Identity Center makes the role again)"
        )
    elif not PERMISSION_SET.fullmatch(permission_set):
        problems.append(
            f"{where}.permission_set: '{permission_set}' is not a permission set name "
            "(1 to 32 letters, digits and +=,.@_-)"
        )
    user = raw.get("user")
    if not isinstance(user, str) or not SESSION_NAME.fullmatch(user):
        problems.append(
            f"{where}.user: {user!r} is not a user name Identity Center can name a session "
            "after (2 to 64 letters, digits and +=,.@_-, like alice@example.com)"
        )
    region = raw.get("region")
    if not isinstance(region, str):
        problems.append(
            f"{where}.region: required, the region of your Identity Center instance (as the "
            "path of the permission set's role shows it: aws-reserved/sso.amazonaws.com/<region>/)"
        )
    elif "/" in region or "sso.amazonaws.com" in region:
        problems.append(
            f"{where}.region: '{region}' is a path; give the region only (like eu-west-1): "
            "Switchback writes aws-reserved/sso.amazonaws.com/<region>/ itself"
        )
    elif not REGION.match(region):
        problems.append(f"{where}.region: '{region}' is not an AWS region name (like eu-west-1)")
    region_in_path = raw.get("region_in_path", True)
    if not isinstance(region_in_path, bool):
        problems.append(f"{where}.region_in_path: must be true or false")
    partition = raw.get("partition", "aws")
    if partition not in _PARTITIONS:
        problems.append(f"{where}.partition: must be one of {', '.join(_PARTITIONS)}")
    if len(problems) != before:
        return None
    return SsoIdentity(
        account=account,
        permission_set=permission_set,
        user=user,
        region=region if region_in_path else None,
        partition=partition,
    )


def _check_unique_sessions(people: dict[str, Person], path: Path, problems: list[str]) -> None:
    """Sessions are named after the person, and cuts go by that name: an Identity Center
    person may share their session name (their user name) with nobody else granted by
    name, IAM user or Identity Center person, whatever the case of the letters."""
    seen: dict[str, str] = {}
    for slack_id, person in people.items():
        key = person.session_name.lower()
        other = seen.get(key)
        if other is not None and (person.is_sso or people[other].is_sso):
            problems.append(
                f"{path}: people.{slack_id}: sessions named {person.session_name!r} like those "
                f"of people.{other} ({person.aws} and {people[other].aws}); each person needs "
                "a session name of their own, because trust and cuts go by it"
            )
            continue
        seen.setdefault(key, slack_id)


def _parse_role(
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

    requesters = _id_list(doc, "requesters", people, problem, allow_star=True)
    approvers = _id_list(doc, "approvers", people, problem, allow_star=False)
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
    if webhook_url is not None and not _is_webhook(webhook_url):
        problem("webhook_url", WEBHOOK_PROBLEM)
    manager_role_arn = doc.get("manager_role_arn")
    if manager_role_arn is not None:
        role_match = ROLE_ARN.match(role_arn) if isinstance(role_arn, str) else None
        why_not = _manager_problem(manager_role_arn, role_match.group(2) if role_match else None)
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
        break_glass_requesters = _id_list(
            doc, "break_glass_requesters", people, problem, allow_star=False
        )
    elif break_glass:
        problem(
            "break_glass_requesters",
            "required with break_glass = true: the Slack user IDs from people.toml or Slack "
            "user group IDs who may break the glass (it never defaults to the requesters)",
        )
    break_glass_webhook_url = doc.get("break_glass_webhook_url")
    if break_glass_webhook_url is not None and not _is_webhook(break_glass_webhook_url):
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
    activity_report, activity_regions = _activity(doc, problem)
    scopes = _scopes(doc, problem)
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


def _scopes(doc: dict, problem) -> tuple[Scope, ...]:
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


def _activity(doc: dict, problem) -> tuple[bool, tuple[str, ...] | None]:
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


def _is_webhook(value: object) -> bool:
    return isinstance(value, str) and (
        value.startswith(("https://", "http://")) or is_secret_arn(value)
    )


def _id_list(
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


def _check_unique_arns(
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


def _check_unique_identities(people: dict[str, Person], path: Path, problems: list[str]) -> None:
    """One IAM identity per person. A role session is named after the IAM user name, and cuts
    and trust pins go by that name: two entries naming one IAM user, or two IAM users with the
    same name in different accounts (or folders), would share one session name and one cut,
    so one could approve the other's grant or inherit the other's window.

    IAM names are not distinguished by case (AWS, "IAM and AWS STS quotas", IAM name
    requirements: you cannot create both "ADMINS" and "admins"), and cuts must match a session
    name in whatever case it comes, so names are compared case-folded."""
    seen: dict[str, str] = {}
    for slack_id, person in people.items():
        name = person.iam_user_name.lower()
        if name in seen:
            other = people[seen[name]]
            if other.aws == person.aws:
                same = "the same IAM user"
            elif other.iam_user_name != person.iam_user_name:
                same = "an IAM user name differing only in case (IAM names ignore case)"
            else:
                same = "IAM users named alike"
            problems.append(
                f"{path}: people.{slack_id}.aws: {same} as people.{seen[name]}.aws "
                f"({person.aws} and {other.aws}); each person needs their own IAM user name, "
                "because sessions are named after it"
            )
            continue
        seen[name] = slack_id
