"""The sweep's role checks (chalicelib/ports.py RoleChecks): marks and the idle cursor, on the
DynamoDB table (chalicelib/aws/role_marks.py) against moto and on the fake alike."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from chalicelib.aws.role_marks import RoleMarks
from chalicelib.aws.store import table_definition
from chalicelib.core.sweep_plan import Cursor
from testkit.fakes import FakeRoleChecks
from tests.contract.kit import NOW, OTHER_ROLE, ROLE


@pytest.fixture(params=["dynamodb", "fake"])
def checks(request: pytest.FixtureRequest) -> RoleMarks | FakeRoleChecks:
    if request.param == "fake":
        return FakeRoleChecks()
    request.getfixturevalue("aws")  # a clean moto account
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("contract"))
    return RoleMarks(client, "contract")


def test_a_mark_is_due_from_its_time_and_the_earlier_time_wins(checks) -> None:
    checks.mark(ROLE, NOW + timedelta(minutes=5), "a cut to age out")
    assert checks.due(NOW) == {}
    checks.mark(ROLE, NOW, "UpdateAssumeRolePolicy")
    checks.mark(ROLE, NOW + timedelta(minutes=9), "later")
    due = checks.due(NOW)
    assert list(due) == [ROLE] and due[ROLE].due_at == NOW
    assert due[ROLE].why == "UpdateAssumeRolePolicy"
    checks.mark(OTHER_ROLE, NOW - timedelta(seconds=1), "the last check failed")
    assert set(checks.due(NOW)) == {ROLE, OTHER_ROLE}


def test_a_clear_removes_only_the_mark_that_was_read(checks) -> None:
    checks.mark(ROLE, NOW, "UpdateAssumeRolePolicy")
    seen = checks.due(NOW)[ROLE]
    checks.mark(ROLE, NOW, "PutRolePolicy")  # marked again while the role was being read
    assert not checks.clear(seen)
    again = checks.due(NOW)[ROLE]
    assert checks.clear(again)
    assert checks.due(NOW + timedelta(days=1)) == {}
    assert not checks.clear(again)  # cleared already


def test_the_cursor_is_kept(checks) -> None:
    assert checks.cursor() is None
    checks.save_cursor(Cursor(29931001, ROLE))
    assert checks.cursor() == Cursor(29931001, ROLE)
    checks.save_cursor(Cursor(29931002))
    assert checks.cursor() == Cursor(29931002, "")
