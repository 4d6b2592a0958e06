"""How many people can hold one role at once: the trust policy at 2,048 and 4,096 characters,
and the session-limit inline policy (10,240 for all of a role's inline policies) at 30 people;
for IAM users, for IAM Identity Center people (one permission set, or three), and a mix;
then the same with scoped grants, whose NotAction denies are written into that inline policy.

Pure: it runs the same planning code a grant runs (chalicelib/core/roleplan.py) on a role that
already trusts an EC2 service statement, each person ending at a different second.

    .venv/bin/python bench/capacity.py
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.core import policy_docs, trust  # noqa: E402
from chalicelib.core.identity import SsoIdentity  # noqa: E402
from chalicelib.core.model import AccessRequest, State, iso, transition  # noqa: E402
from chalicelib.core.roleplan import RoleView, plan  # noqa: E402

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ROLE_ARN = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
TAG = trust.deployment_tag("switchback")
BASELINE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EC2Service",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


PERMISSION_SETS = ("Operator", "DatabaseAdmin", "ReadOnlyAccess")


def principal_of(name: str, kind: str, n: int) -> str:
    """``kind``: "iam" (an IAM user), "sso" (Identity Center, one permission set), "sso3"
    (three permission sets in turn), "mix" (IAM users and one permission set in turn)."""
    if kind == "iam" or (kind == "mix" and n % 2 == 0):
        return f"arn:aws:iam::123456789012:user/{name}"
    permission_set = PERMISSION_SETS[n % 3] if kind == "sso3" else PERMISSION_SETS[0]
    return SsoIdentity("123456789012", permission_set, name, "eu-west-1").principal


def approved(n: int, name: str, at: datetime, seconds: int, kind: str = "iam") -> AccessRequest:
    made = AccessRequest(
        id=f"R{n:09d}",
        role="ec2-admin",
        role_arn=ROLE_ARN,
        requester=f"U{n:08d}",
        requester_name=name,
        principal_arn=principal_of(name, kind, n),
        duration_seconds=seconds,
        reason="bench",
        created_at=iso(at),
        approval_deadline=iso(at + timedelta(hours=1)),
        approvals_required=1,
        ends_at=iso(at + timedelta(seconds=seconds)),
    )
    made = transition(made, State.PENDING, made.requester, "requested", at)
    return transition(made, State.APPROVED, "U0BOB", "approved", at)


class Role:
    def __init__(self, quota: int):
        self.view = RoleView(ROLE_ARN, "AROAEXAMPLE", BASELINE, None, timedelta(hours=1), {}, TAG)
        self.quota = quota
        self.open: dict[str, AccessRequest] = {}

    def step(self, now: datetime, *new: AccessRequest):
        for request in new:
            self.open[request.id] = request
        planned = plan(self.view, self.open.values(), now, self.quota)
        self.view = replace(
            self.view, trust=planned.trust, limits=planned.limits, ledger=planned.ledger
        )
        for request in planned.activate:
            self.open[request.id] = transition(request, State.ACTIVE, "sb", "granted", now)
        for request in planned.expire:
            del self.open[request.id]
        for request, _ in planned.fail:
            del self.open[request.id]
        return planned


def name_of(n: int, length: int) -> str:
    return f"p{n:03d}".ljust(length, "x")


# Scopes as a role file might define them: a short read-only one, and wider ones of 10 actions.
READ_ONLY = ("ec2:Describe*", "ec2:Get*", "cloudwatch:GetMetricData")
WIDE = [
    tuple(
        f"{service}:{verb}{noun}"
        for verb in ("Describe", "Get")
        for noun in ("A*", "B*", "C*", "D*", "E*")
    )
    for service in ("ec2", "rds", "s3", "elasticloadbalancing")
]


def with_scope(request: AccessRequest, n: int, scopes) -> AccessRequest:
    if not scopes:
        return request
    actions = scopes[n % len(scopes)]
    return replace(request, scope=f"scope{n % len(scopes)}", scope_actions=actions)


def email_of(n: int, length: int) -> str:
    return f"p{n:03d}".ljust(length - len("@example.com"), "x") + "@example.com"


def concurrent_capacity(
    quota: int, name_length: int, kind: str = "iam", scopes=None
) -> tuple[int, str]:
    """Grant people one by one (each ending 7 s after the last) until one fails; ``kind``:
    IAM users, Identity Center people or a mix; with ``scopes``, person n holds scope n
    modulo their number."""
    role = Role(quota)
    for n in range(1000):
        name = (name_of if kind == "iam" else email_of)(n, name_length)
        request = with_scope(approved(n, name, NOW, 3600 + 7 * n, kind), n, scopes)
        planned = role.step(NOW, request)
        if planned.fail:
            [(_, reason)] = planned.fail
            stop = "trust quota" if "trust policy" in reason else "inline-policy limit"
            holders = [r for r in role.open.values() if r.state is State.ACTIVE]
            grants = [trust.Grant(r.id, r.principal_arn, r.session_name, r.ends()) for r in holders]
            late = trust.lateness(role.view.trust, TAG, grants)
            statements = len(
                [s for s in policy_docs.statements(role.view.trust) if trust.is_ours(s, TAG)]
            )
            return n, (
                f"{statements} statement(s), trust at most {late} past an end; "
                f"the next one exceeds the {stop}"
            )
    return 1000, ""


def limits_size(people: int, name_length: int, regranted: bool, scopes=None) -> int:
    """The session-limit policy with ``people`` holding a grant; with ``regranted``, each also
    keeps a closed cut from an earlier window (ended 1 minute before they were granted again):
    the largest it gets, as cuts are kept 12 hours."""
    role = Role(10**6)
    names = [name_of(n, name_length) for n in range(people)]
    if regranted:
        role.step(NOW, *(approved(n, name, NOW, 1800) for n, name in enumerate(names)))
        role.step(NOW + timedelta(minutes=30))
    later = NOW + timedelta(minutes=31)
    for n, name in enumerate(names):
        request = approved(1000 + n, name, later, 3600 + 7 * n)
        role.step(later + timedelta(seconds=n), with_scope(request, n, scopes))
    return policy_docs.size(role.view.limits)


def main() -> None:
    print("Concurrent people on one role (each ending at a different second), with one")
    print("foreign EC2 service statement in the trust policy:")
    for length in (8, 18):
        for quota in (2048, 4096):
            count, how = concurrent_capacity(quota, length)
            print(f"  trust quota {quota}, {length:2}-character user names: {count} people ({how})")
    print("IAM Identity Center people (18-character user names like p000xx@example.com):")
    kinds = {
        "sso": "one permission set",
        "sso3": "three permission sets",
        "mix": "IAM users and one permission set, in turn",
    }
    for kind, what in kinds.items():
        for quota in (2048, 4096):
            count, how = concurrent_capacity(quota, 18, kind)
            print(f"  trust quota {quota}, {what}: {count} people ({how})")
    print("Session-limit inline policy (IAM limit 10,240 for all of a role's inline policies):")
    for length in (8, 18):
        for regranted in (False, True):
            size = limits_size(30, length, regranted)
            what = "each re-granted within 12 h" if regranted else "first grant each"
            print(f"  30 people, {length:2}-character names, {what}: {size} characters")
    print("Scoped grants (trust quota 4,096; the scope denies share the 10,240 inline budget):")
    for label, scopes in (
        ("everyone the same 3-action scope", [READ_ONLY]),
        ("spread over 4 scopes of 10 actions", WIDE),
    ):
        for length in (8, 18):
            count, how = concurrent_capacity(4096, length, scopes=scopes)
            size = limits_size(30, length, True, scopes)
            print(
                f"  {label}, {length:2}-character names: {count} people ({how}); "
                f"30 people re-granted: {size} characters"
            )


if __name__ == "__main__":
    main()
