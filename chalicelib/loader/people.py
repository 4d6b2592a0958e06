"""The people in ``people.toml``: Slack user IDs, IAM users and IAM Identity Center identities.

Part of the policy loader (chalicelib/policies.py): every problem is added to ``problems``,
naming the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path

from chalicelib.core.catalog import Person
from chalicelib.core.identity import PERMISSION_SET, ROLE_PREFIX, SESSION_NAME, SsoIdentity

# re.ASCII: IAM names are ASCII, and \w would also match other scripts' letters. \Z, not $:
# $ also matches before a trailing newline, which IAM would then reject at grant time.
USER_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:iam::(\d{12}):user/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})\Z",
    re.ASCII,
)
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}\Z")
# An AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5.
REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}\Z")

_PERSON_FIELDS = {"name", "aws", "sso", "principal"}
_SSO_FIELDS = {"account", "permission_set", "user", "region", "region_in_path", "partition"}
_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")


def parse_people(doc: dict, path: Path, problems: list[str]) -> dict[str, Person]:
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
    sso = parse_sso(entry.get("sso"), f"{where}.sso", problems) if "sso" in entry else None
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


def parse_sso(raw: object, where: str, problems: list[str]) -> SsoIdentity | None:
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


def check_unique_sessions(people: dict[str, Person], path: Path, problems: list[str]) -> None:
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


def check_unique_identities(people: dict[str, Person], path: Path, problems: list[str]) -> None:
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
