"""AWS slowness never breaks Slack's 3 seconds, nor lies: the app's real boto3 clients talk to
moto through a proxy that holds chosen calls back (testkit/slow_aws.py), and what each command
answers is checked against what the store and IAM then hold.

How long the answers take is measured in bench/slow_aws_ack.py, not asserted here.
"""

from __future__ import annotations

import time

import boto3
import pytest

from chalicelib.core.model import State
from testkit.slow_aws import SlowAws
from tests.conftest import BASE_URL
from tests.support.slack_team import Team, build_team, outbox_messages, trust_sids

HANG = 4.0  # longer than a command's whole budget (2.1 s), and than a click's here (3.0 s)


@pytest.fixture
def slow(aws):
    with SlowAws(aws) as proxy:
        yield proxy


@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch, slow) -> Team:
    return build_team(client, slack, tmp_path / "policies", monkeypatch, AWS_ENDPOINT_URL=slow.url)


def wait_for_held_calls() -> None:
    time.sleep(HANG + 0.5)  # what AWS was holding lands (or not) before we look


def test_a_request_whose_write_hangs_is_never_said_to_be_pending_nor_unchanged(
    team: Team, slow: SlowAws
) -> None:
    slow.hold("dynamodb.TransactWriteItems", HANG)
    answer = team.slash("U0ALICE", "request ec2-admin 30m INC-1 fix")["text"]
    assert "AWS is slow right now" in answer
    assert "could not confirm that your request was recorded" in answer
    assert "If it was, the approvers will hear of it" in answer
    assert "pending" not in answer and "nothing was changed" not in answer
    wait_for_held_calls()
    slow.clear()
    # It did land (a slow AWS still does the work): the approvers hear of it, as promised.
    [request] = team.service.store.requests_of("U0ALICE")
    assert request.state is State.PENDING
    assert [m["kind"] for m in outbox_messages()] == ["approvers.new"]


def test_a_command_whose_reads_hang_changed_nothing_and_says_so(team: Team, slow) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    slow.hold("dynamodb.GetItem", HANG)
    answer = team.slash("U0ALICE", f"cancel {request_id}")["text"]
    assert "AWS is slow right now" in answer and "nothing was changed" in answer
    wait_for_held_calls()
    slow.clear()
    assert team.stored(request_id).state is State.PENDING


def test_a_request_when_aws_is_slow_but_in_time_is_done(team: Team, slow) -> None:
    slow.hold("dynamodb.*", 0.2)
    answer = team.slash("U0ALICE", "request ec2-admin 30m INC-1 fix")["text"]
    assert "is pending" in answer


def test_a_revoke_whose_iam_step_hangs_is_recorded_and_says_the_sweep_finishes_it(
    team: Team, slow
) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    team.service.approve(request_id, "U0BOB")
    assert team.stored(request_id).state is State.ACTIVE
    slow.hold("iam.*", HANG)
    answer = team.slash("U0ALICE", f"revoke {request_id}")["text"]
    assert "is revoked and recorded" in answer and "next sweep" in answer
    assert "trust is removed" not in answer
    wait_for_held_calls()
    slow.clear()
    assert team.stored(request_id).state is State.REVOKED
    team.sweep()
    assert f"Switchback{request_id}" not in trust_sids()


def test_a_review_button_whose_iam_hangs_answers_with_the_recorded_state(
    team: Team, slow, monkeypatch
) -> None:
    from chalicelib.entry import review_routes

    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    monkeypatch.setattr(review_routes, "PAGE_BUDGET_SECONDS", 3.0)  # the same path, a shorter clock
    slow.hold("iam.*", HANG)
    answer = team.click(request_id, "U0BOB", "approve")
    # Recorded as approved; the grant waits for AWS: the page shows what the store says.
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{BASE_URL}/requests/{request_id}"
    assert team.stored(request_id).state is State.APPROVED
    wait_for_held_calls()
    slow.clear()
    team.sweep()
    assert team.stored(request_id).state is State.ACTIVE


def test_a_review_button_whose_store_hangs_says_so_on_a_page(team: Team, slow, monkeypatch) -> None:
    from chalicelib.entry import review_routes

    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    monkeypatch.setattr(review_routes, "PAGE_BUDGET_SECONDS", 3.0)
    slow.hold("dynamodb.TransactWriteItems", HANG)
    answer = team.click(request_id, "U0BOB", "deny")
    assert answer.status_code == 503
    body = answer.body.decode()
    assert "could not confirm" in body and "nothing was changed" not in body
    assert answer.headers["Content-Type"].startswith("text/html")


def test_a_review_button_whose_lock_release_is_slow_still_releases_the_lock(
    team: Team, slow
) -> None:
    """Releasing the role's lock has at least 0.8 s of its own, and the click's remaining time
    when more is left: a DeleteItem AWS answers in 1 s is waited for, not abandoned to leave
    the lock held for its whole 45-second lease (holding up the sweep and other clicks)."""
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 fix")
    slow.hold("dynamodb.DeleteItem", 1.0)
    answer = team.click(request_id, "U0BOB", "approve")
    assert answer.status_code == 303
    assert team.stored(request_id).state is State.ACTIVE
    slow.clear()
    locks = boto3.client("dynamodb", endpoint_url=slow.upstream).scan(
        TableName="switchback",
        FilterExpression="begins_with(pk, :lock)",
        ExpressionAttributeValues={":lock": {"S": "LOCK#role:"}},
    )["Items"]
    assert locks == []
