"""Role marks and the sweep's idle cursor in the table (chalicelib/aws/role_marks.py), on moto:
marked from a CloudTrail event, found with one Query of the due index, cleared only if not
marked again meanwhile; and the broker's policy allows exactly those calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from chalicelib.aws.role_marks import MARK_ACTIONS, MARK_INDEX_ACTIONS, MARK_KEY, RoleMarks
from chalicelib.aws.store import DUE_INDEX, TTL_ATTRIBUTE, Store, table_definition
from chalicelib.core.iam_changes import changed_role
from chalicelib.core.model import State
from chalicelib.core.sweep_plan import Cursor, plan_pass
from chalicelib.policies import load_catalog
from testkit.aws_calls import CallCounter
from tools.broker_policy import SAMPLE, allows, broker_policy, resolve

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS"
OTHER = "arn:aws:iam::123456789012:role/S3READER"
NOW = datetime(2026, 11, 28, 10, 2, 30, tzinfo=UTC)


@pytest.fixture
def table(aws: str):
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("marks"))
    return client


@pytest.fixture
def marks(table) -> RoleMarks:
    return RoleMarks(table, "marks")


def test_an_iam_change_event_becomes_a_mark_the_next_pass_reads(marks: RoleMarks) -> None:
    event = json.loads(
        (ROOT / "tests/adapters/fixtures/cloudtrail/hand-edit-trust.json").read_text()
    )
    role = changed_role(event, [ROLE, OTHER])
    marks.mark(role, NOW, "UpdateAssumeRolePolicy by carol@example.com")
    due = marks.due(NOW + timedelta(seconds=30))
    assert list(due) == [ROLE] and due[ROLE].why.startswith("UpdateAssumeRolePolicy")
    plan = plan_pass([ROLE, OTHER], {}, {a: m.due_at for a, m in due.items()}, NOW, Cursor(0))
    assert ROLE in plan.roles()


def test_a_mark_for_later_is_not_due_yet_and_the_earlier_time_wins(marks: RoleMarks) -> None:
    marks.mark(ROLE, NOW + timedelta(hours=12), "a cut to age out")
    assert marks.due(NOW) == {}
    marks.mark(ROLE, NOW, "hand edit")
    assert marks.due(NOW)[ROLE].due_at == NOW
    marks.mark(ROLE, NOW + timedelta(hours=1), "later again")  # keeps NOW
    assert marks.due(NOW)[ROLE].due_at == NOW


def test_a_mark_made_while_its_role_was_read_is_not_cleared(marks: RoleMarks) -> None:
    marks.mark(ROLE, NOW, "hand edit")
    seen = marks.due(NOW)[ROLE]
    marks.mark(ROLE, NOW + timedelta(seconds=5), "another edit, during the read")
    assert marks.clear(seen) is False
    again = marks.due(NOW + timedelta(seconds=5))[ROLE]
    assert marks.clear(again) is True
    assert marks.due(NOW + timedelta(minutes=5)) == {}


def test_marks_carry_the_due_index_keys_and_a_ttl(table, marks: RoleMarks) -> None:
    marks.mark(ROLE, NOW, "hand edit")
    item = table.get_item(TableName="marks", Key={"pk": {"S": f"MARK#{ROLE}"}, "sk": {"S": "MARK"}})
    item = item["Item"]
    assert item["due_pk"] == {"S": MARK_KEY}
    assert int(item[TTL_ATTRIBUTE]["N"]) == int((NOW + timedelta(days=1)).timestamp())


def test_the_requests_due_work_and_the_marks_do_not_mix(table, marks: RoleMarks) -> None:
    store = Store(table, "marks")
    marks.mark(ROLE, NOW, "hand edit")
    assert store.due_requests(State.ACTIVE, "9999") == []
    assert store.due_messages("9999") == []
    assert store.unreviewed("9999") == []


def test_finding_the_marks_is_one_query_however_many_roles(table, marks: RoleMarks) -> None:
    for i in range(30):
        marks.mark(f"arn:aws:iam::123456789012:role/R{i:03d}", NOW, "apply")
    counter = CallCounter().attach(table)
    assert len(marks.due(NOW)) == 30
    assert dict(counter.of("dynamodb")) == {"Query": 1}


def test_the_cursor_is_kept_between_passes(marks: RoleMarks) -> None:
    assert marks.cursor() is None
    marks.save_cursor(Cursor(29_000_000, ROLE))
    assert marks.cursor() == Cursor(29_000_000, ROLE)
    marks.save_cursor(Cursor(29_000_001))
    assert marks.cursor() == Cursor(29_000_001, "")


def test_the_broker_may_make_read_and_clear_marks_on_its_table_only() -> None:
    policy = resolve(broker_policy(load_catalog(ROOT / "policies")), SAMPLE)
    table = SAMPLE["Table.Arn"]
    for action in MARK_ACTIONS:
        assert allows(policy, action, table)
        assert not allows(policy, action, table.replace("Table-1A2B3C", "Other"))
    for action in MARK_INDEX_ACTIONS:
        assert allows(policy, action, f"{table}/index/{DUE_INDEX}")
