"""The role's other inline policies share IAM's 10,240-character aggregate quota with the
session-limit policy. moto does not enforce it, so Switchback measures them under the lock
and refuses a grant that would not fit: FAILED with the reason, nothing written in IAM."""

from __future__ import annotations

import json

import pytest

from chalicelib.aws.iam import IamGateway
from chalicelib.core.model import State
from chalicelib.core.policy_docs import iam_characters
from tests.support.engine_kit import ROLES, built_engine, role_arn

EC2 = "ec2-admin"


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def foreign_policy(characters: int) -> dict:
    """An inline policy someone else wrote, of about ``characters`` as IAM counts them,
    formatted with plenty of whitespace (which IAM does not count)."""
    statements, n = [], 0
    while True:
        statements.append(
            {
                "Sid": f"Read{n:05d}",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": f"arn:aws:s3:::bucket-{n:05d}/*",
            }
        )
        n += 1
        if iam_characters(json.dumps({"Version": "2012-10-17", "Statement": statements})) >= (
            characters
        ):
            return {"Version": "2012-10-17", "Statement": statements}


def put_foreign(engine, policy: dict, name: str = "TeamExtras") -> int:
    text = json.dumps(policy, indent=4)  # IAM keeps it as written; whitespace is free
    engine.iam.put_role_policy(RoleName=ROLES[EC2], PolicyName=name, PolicyDocument=text)
    return iam_characters(text)


def test_the_adapter_counts_other_inline_policies_as_iam_does(engine) -> None:
    gateway = IamGateway.single(engine.iam)
    ours = engine.service.writer.limits_policy
    assert gateway.other_inline_size(role_arn(EC2), ours) == 0
    size_a = put_foreign(engine, foreign_policy(3000), "A")
    size_b = put_foreign(engine, foreign_policy(1000), "B")
    engine.grant("U0ALICE")  # our own policy is never counted as "other"
    assert gateway.other_inline_size(role_arn(EC2), ours) == size_a + size_b
    assert size_a < len(json.dumps(foreign_policy(3000), indent=4))  # whitespace not counted


def test_a_grant_that_would_overflow_the_roles_inline_quota_fails_and_writes_nothing(
    engine,
) -> None:
    before_trust = engine.trust()
    used = put_foreign(engine, foreign_policy(9900))
    assert used <= 10_240  # IAM took it; the session limits have less than 400 left
    request = engine.grant("U0ALICE")
    assert request.state is State.FAILED
    assert "other inline policies already take" in request.failure
    assert str(used) in request.failure and "10240" in request.failure
    assert engine.trust() == before_trust  # no trust
    assert engine.limits() is None  # no cut


def test_a_grant_that_fits_beside_other_inline_policies_is_granted(engine) -> None:
    put_foreign(engine, foreign_policy(6000))
    request = engine.grant("U0ALICE")
    assert request.state is State.ACTIVE
    assert engine.trusted_names() == ["alice"]


def test_the_quota_counts_what_is_already_there_when_more_people_come(engine) -> None:
    """Room for a few people only: the first ones are granted, the one that would not fit
    is refused with the reason, and those granted keep working."""
    # One person's session limits take about 580 characters, two about 810, three 1,040.
    put_foreign(engine, foreign_policy(9_300))
    # Different ends, so nobody shares a statement.
    first = engine.grant("U0ALICE", duration="30m")
    assert first.state is State.ACTIVE
    second = engine.grant("U0CAROL", duration="45m")
    third = engine.grant("U0DAVE", duration="60m")
    assert second.state is State.ACTIVE
    assert third.state is State.FAILED and "other inline policies" in third.failure
    assert engine.stored(first.id).state is State.ACTIVE
    assert "alice" in engine.trusted_names()
