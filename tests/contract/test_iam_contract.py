"""The IAM gateway's contract, run twice: chalicelib/aws/iam.py's ``IamGateway`` on moto, and
testkit/fake_iam.py's ``FakeIam``. What the use cases (through RoleWriter and the grant slots)
rely on: a role's trust, id and session length; trust written and read back; inline policies
read, written, measured and deleted; the trust quota; IAM's refusals as the project's errors.
A few of IAM's refusals moto does not make (the size quotas) run on the fake alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pytest

from chalicelib.aws.iam import IamGateway
from chalicelib.core.errors import PolicyRejected, RoleMissing
from testkit.fake_iam import FakeIam

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/EC2ADMIN"
GONE = f"arn:aws:iam::{ACCOUNT}:role/NOSUCHROLE"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Admins",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def deny_all(sid: str, resource: str = "*") -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": resource}],
    }


@dataclass
class Iam:
    kind: str
    gateway: IamGateway | FakeIam
    create_role: Callable[[str, dict, int], None]


def _moto() -> Iam:
    client = boto3.client("iam")

    def create_role(role_arn: str, trust: dict, max_session: int) -> None:
        client.create_role(
            RoleName=role_arn.rsplit("/", 1)[1],
            AssumeRolePolicyDocument=json.dumps(trust),
            MaxSessionDuration=max_session,
        )

    return Iam("moto", IamGateway.single(client), create_role)


def _fake() -> Iam:
    fake = FakeIam()
    return Iam("fake", fake, lambda arn, trust, seconds: fake.create_role(arn, trust, seconds))


@pytest.fixture(params=["moto", "fake"])
def iam(request: pytest.FixtureRequest) -> Iam:
    if request.param == "fake":
        built = _fake()
    else:
        request.getfixturevalue("aws")  # a clean moto account
        built = _moto()
    built.create_role(ROLE, TRUST, 7200)
    return built


def test_a_role_reads_as_its_trust_id_and_session_length(iam: Iam) -> None:
    role = iam.gateway.read(ROLE)
    assert role.role_arn == ROLE and role.role_id.startswith("AROA")
    assert role.trust_policy == TRUST and role.max_session_seconds == 7200
    assert iam.gateway.read(ROLE).role_id == role.role_id


def test_trust_written_reads_back_as_written(iam: Iam) -> None:
    policy = {**TRUST, "Statement": [*TRUST["Statement"], {**TRUST["Statement"][0], "Sid": "B"}]}
    iam.gateway.write_trust(ROLE, policy)
    assert iam.gateway.read(ROLE).trust_policy == policy


def test_a_missing_role_is_role_missing(iam: Iam) -> None:
    with pytest.raises(RoleMissing):
        iam.gateway.read(GONE)
    with pytest.raises(RoleMissing):
        iam.gateway.write_trust(GONE, TRUST)
    with pytest.raises(RoleMissing):
        iam.gateway.write_inline_policy(GONE, "Limits", deny_all("A"))
    iam.gateway.delete_inline_policy(GONE, "Limits")  # nothing to delete: nothing happens


def test_inline_policies_are_read_written_measured_and_deleted(iam: Iam) -> None:
    gateway = iam.gateway
    assert gateway.read_inline_policy(ROLE, "Limits") is None
    assert gateway.other_inline_size(ROLE, "Limits") == 0
    gateway.write_inline_policy(ROLE, "Limits", deny_all("A"))
    gateway.write_inline_policy(ROLE, "Other", deny_all("Bé"))
    assert gateway.read_inline_policy(ROLE, "Limits") == deny_all("A")
    other = json.dumps(deny_all("Bé"), separators=(",", ":"), ensure_ascii=False)
    assert gateway.other_inline_size(ROLE, "Limits") == len(other)
    gateway.write_inline_policy(ROLE, "Limits", deny_all("C"))
    assert gateway.read_inline_policy(ROLE, "Limits") == deny_all("C")
    gateway.delete_inline_policy(ROLE, "Limits")
    gateway.delete_inline_policy(ROLE, "Limits")  # already gone: nothing happens
    assert gateway.read_inline_policy(ROLE, "Limits") is None
    assert gateway.other_inline_size(ROLE, "Nothing") == len(other)


def test_the_trust_quota_is_the_accounts_unless_overridden(iam: Iam) -> None:
    assert iam.gateway.trust_quota(ROLE) == 2048
    overridden = FakeIam(quota_override=4096) if iam.kind == "fake" else None
    if overridden is None:
        overridden = IamGateway.single(boto3.client("iam"), quota_override=4096)
    assert overridden.trust_quota(ROLE) == 4096


def test_an_inline_policy_with_no_statement_is_rejected(iam: Iam) -> None:
    with pytest.raises(PolicyRejected, match="MalformedPolicyDocument"):
        iam.gateway.write_inline_policy(ROLE, "Limits", {"Version": "2012-10-17", "Statement": []})
    assert iam.gateway.read_inline_policy(ROLE, "Limits") is None


# -- IAM's quotas: moto does not enforce them, so the fake alone is held to them --------------


def test_a_trust_policy_over_the_quota_is_rejected_and_not_written() -> None:
    fake = FakeIam()
    fake.create_role(ROLE, TRUST)
    statement = TRUST["Statement"][0]
    big = {**TRUST, "Statement": [{**statement, "Sid": f"S{n}"} for n in range(30)]}
    with pytest.raises(PolicyRejected, match="LimitExceeded"):
        fake.write_trust(ROLE, big)
    assert fake.read(ROLE).trust_policy == TRUST


def test_inline_policies_share_one_aggregate_quota() -> None:
    fake = FakeIam()
    fake.create_role(ROLE, TRUST)
    fake.write_inline_policy(ROLE, "Other", deny_all("O", "x" * 6000))
    fake.write_inline_policy(ROLE, "Limits", deny_all("A", "y" * 4000))
    with pytest.raises(PolicyRejected, match="LimitExceeded"):
        fake.write_inline_policy(ROLE, "Limits", deny_all("A", "y" * 4300))
    assert fake.read_inline_policy(ROLE, "Limits") == deny_all("A", "y" * 4000)


def test_a_failure_set_up_on_the_fake_comes_once() -> None:
    from chalicelib.core.errors import AwsUnavailable

    fake = FakeIam()
    fake.create_role(ROLE, TRUST)
    fake.fail("write_trust", AwsUnavailable("IAM update_assume_role_policy: Throttling"))
    with pytest.raises(AwsUnavailable):
        fake.write_trust(ROLE, TRUST)
    fake.write_trust(ROLE, TRUST)
    assert fake.calls == ["write_trust", "write_trust"]


def test_the_fake_has_every_method_of_the_gateway() -> None:
    def public(cls) -> set[str]:
        return {n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)}

    assert public(IamGateway) - {"single"} <= public(FakeIam)
