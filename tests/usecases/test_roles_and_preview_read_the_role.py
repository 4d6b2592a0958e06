"""`/access roles` warns about a role whose MaxSessionDuration outlives its max_duration, and
the review page's "what approving writes" shows the cut with the role's own id."""

from __future__ import annotations

import json

import pytest

from chalicelib.entry.slash import handle
from tests.support.engine_kit import ROLES, built_engine


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


def roles_text(engine) -> str:
    return json.dumps(handle(engine.service, "U0ALICE", "roles", None, "/access"))


def test_roles_warns_when_max_session_duration_is_longer_than_max_duration(engine) -> None:
    assert "MaxSessionDuration" not in roles_text(engine)  # 1 hour, as created
    engine.iam.update_role(RoleName=ROLES["ec2-admin"], MaxSessionDuration=12 * 3600)
    engine.service.queries.grant_slots._policies.clear()  # the next `roles` reads IAM again
    text = roles_text(engine)
    assert "ec2-admin: the IAM role's MaxSessionDuration is 12h" in text
    assert "longer than its max_duration 4h" in text and "--max-session-duration 3600" in text
    assert "db-admin: the IAM role" not in text


def test_what_approving_writes_names_the_roles_own_id(engine) -> None:
    request = engine.stored(engine.request("U0ALICE"))
    documents = engine.service.what_approving_writes(request, engine.clock.now)
    shown = json.dumps(documents[1][1])
    assert f"{engine.role_id()}:alice" in shown and "*:alice" not in shown
