"""The audit trail names the Slack user group through which a requester or an approver was
eligible; someone named directly (or by "*") gets no such note."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.core.commands import RequestCommand
from chalicelib.core.durations import parse_duration
from chalicelib.core.model import State
from tests.support.engine_kit import built_engine

GROUPS = {"S0DEVS": frozenset({"U0ALICE"}), "S0ONCALL": frozenset({"U0BOB"})}


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        service = built.service
        roles = dict(service.catalog.roles)
        roles["ec2-admin"] = replace(
            roles["ec2-admin"], requesters=("S0DEVS", "U0DAVE"), approvers=("S0ONCALL", "U0CAROL")
        )
        roles["ops"] = replace(roles["ops"], break_glass_requesters=("S0DEVS",))
        service.catalog = replace(service.catalog, roles=roles)
        service.groups = GROUPS.__getitem__
        yield built


def entry(engine, request_id: str, action: str):
    return next(e for e in engine.stored(request_id).audit if e.action == action)


def test_a_request_and_its_approval_name_the_groups_that_let_them(engine) -> None:
    granted = engine.grant("U0ALICE", approver="U0BOB")
    assert granted.state is State.ACTIVE
    asked = entry(engine, granted.id, "requested")
    assert asked.detail == "INC-42 test; eligible through Slack group S0DEVS"
    assert entry(engine, granted.id, "approved").detail.endswith(
        "eligible through Slack group S0ONCALL"
    )


def test_people_named_directly_get_no_group_note(engine) -> None:
    granted = engine.grant("U0DAVE", approver="U0CAROL")
    assert entry(engine, granted.id, "requested").detail == "INC-42 test"
    assert "Slack group" not in entry(engine, granted.id, "approved").detail


def test_a_break_glass_names_its_group(engine) -> None:
    command = RequestCommand("ops", parse_duration("30m"), "INC-9 outage", break_glass=True)
    taken = engine.service.submit("U0ALICE", command, None)
    assert entry(engine, taken.id, "break-glass").detail.endswith(
        "eligible through Slack group S0DEVS"
    )


def test_an_extensions_approval_names_the_group_that_let_it(engine) -> None:
    from chalicelib.core.commands import ExtendCommand

    granted = engine.grant("U0ALICE", approver="U0CAROL")
    asked = ExtendCommand(granted.id, parse_duration("15m"), "more time")
    extension = engine.service.extend("U0ALICE", asked, None)
    engine.service.approve(extension.id, "U0BOB")
    assert engine.stored(extension.id).state is State.EXTENDED
    assert entry(engine, extension.id, "approved").detail.endswith(
        "eligible through Slack group S0ONCALL"
    )
