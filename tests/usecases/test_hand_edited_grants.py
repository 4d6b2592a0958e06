"""The grant step re-checks everything (core/grantable.py): an item marked APPROVED by a hand
edit of the table — no approvals on record, or a 30-day end — is refused and reported, never
granted, and the grant-failure alarm's metric counts it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import telemetry
from chalicelib.core.decisions import approve
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import State, iso
from tests.support.engine_kit import built_engine


@pytest.fixture
def engine(aws, slack, monkeypatch, tmp_path):
    with built_engine(slack, monkeypatch, tmp_path) as built:
        yield built


@pytest.fixture
def metrics(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(telemetry, "metric", lambda name, value=1, *_: seen.append(name))
    return seen


def hand_edit(engine, request_id: str, edit) -> None:
    """Write the stored item back changed, as someone with rights on the table could."""
    store = engine.service.store
    store.save_request(edit(store.get_request(request_id)))


def test_an_item_marked_approved_without_approvals_is_refused_not_granted(engine, metrics) -> None:
    request_id = engine.request("U0ALICE")
    now = engine.clock.now
    hand_edit(
        engine,
        request_id,
        lambda r: replace(r, state=State.APPROVED, ends_at=iso(now + timedelta(minutes=30))),
    )
    engine.service.sweep()
    stored = engine.stored(request_id)
    assert stored.state is State.FAILED
    assert "0 of the 1 approvals" in stored.failure
    assert engine.trusted_names() == [] and engine.limits() is None
    assert "failures" in metrics
    assert any(request_id in text for text in engine.texts("/webhook/approvers"))


def test_an_approved_item_given_a_30_day_end_is_refused_not_granted(engine, metrics) -> None:
    request_id = engine.request("U0ALICE")
    now = engine.clock.now
    role = engine.service.catalog.role("ec2-admin")

    def thirty_days(current):
        approved = approve(current, "U0BOB", now, role)  # a real approval on record
        return replace(approved, version=current.version, ends_at=iso(now + timedelta(days=30)))

    hand_edit(engine, request_id, thirty_days)
    engine.service.sweep()
    stored = engine.stored(request_id)
    assert stored.state is State.FAILED and "is later than" in stored.failure
    assert engine.trusted_names() == [] and engine.limits() is None
    assert "failures" in metrics


def test_an_honest_approval_is_still_granted(engine) -> None:
    assert engine.grant("U0ALICE").state is State.ACTIVE
    assert engine.trusted_names() == ["alice"]


def test_an_approved_request_whose_group_cannot_be_told_now_waits(engine) -> None:
    """Its requester is eligible only through a Slack group Slack cannot resolve right now:
    neither granted nor failed; the next step, with Slack back, grants it."""
    service = engine.service
    roles = dict(service.catalog.roles)
    roles["ec2-admin"] = replace(roles["ec2-admin"], requesters=("S0DEVS",))
    service.catalog = replace(service.catalog, roles=roles)
    up = {"S0DEVS": frozenset({"U0ALICE"})}
    service.groups = up.__getitem__
    request_id = engine.request("U0ALICE")
    now = engine.clock.now

    def approved(current):
        done = approve(current, "U0BOB", now, roles["ec2-admin"], up.__getitem__)
        return replace(done, version=current.version)

    hand_edit(engine, request_id, approved)  # approved, as a click whose grant step died

    def down(group: str) -> frozenset[str]:
        raise GroupsUnavailable(f"Slack could not be asked who is in {group}")

    service.groups = down
    service.sweep()
    assert engine.stored(request_id).state is State.APPROVED
    assert engine.trusted_names() == []
    service.groups = up.__getitem__
    service.sweep()
    assert engine.stored(request_id).state is State.ACTIVE
