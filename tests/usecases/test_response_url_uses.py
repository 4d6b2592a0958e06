"""Slack takes at most five posts to a slash command's response_url. A post is counted when it
is sent, never while working out what a change owes: a change that lost a race and is decided
again costs nothing, however often it is retried."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import StoreConflict
from tests.support.slack_team import Team, build_team


@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    return build_team(client, slack, tmp_path / "policies", monkeypatch)


def test_a_change_retried_after_conflicts_leaves_all_five_posts(team: Team, monkeypatch) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    store = team.service.store
    save = store.save_request
    conflicts = 6  # more than five: each retry used to reserve one post

    def lose_races(request, messages=()):
        nonlocal conflicts
        if conflicts:
            conflicts -= 1
            raise StoreConflict("someone else wrote it first")
        return save(request, messages)

    monkeypatch.setattr(store, "save_request", lose_races)
    team.service.deny(request_id, "U0BOB", "not now")
    assert conflicts == 0, "the denial was retried after each conflict"
    monkeypatch.undo()
    team.service.flush(5.0)

    request = team.stored(request_id)
    for n in range(5):
        team.notifier.requester(request, f"note {n}", "test.note")
    team.service.flush(5.0)
    # the denial and four notes: Slack's five posts, then the channel
    texts = team.slack.texts("/response/U0ALICE")
    assert len(texts) == 5 and "denied" in texts[0]
    assert texts[1:] == [f"note {n}" for n in range(4)]
    assert team.slack.texts("/webhook/approvers")[-1] == "<@U0ALICE> note 4"
