"""One table (chalicelib/entry/errors.py) says what each of the project's errors means to the
person: the review page's status and words, and the slash command's words."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from chalicelib.core.decisions import Refusal, Refused
from chalicelib.core.errors import (
    AwsUnavailable,
    AwsUncertain,
    BudgetSpent,
    LockBusy,
    LockHandedOver,
    PolicyRejected,
    RoleMissing,
    StoreConflict,
)
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import TransitionError
from chalicelib.entry import errors

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = [
    Refused(Refusal.NOT_PENDING, "This request is already approved."),
    TransitionError("request X is expired; it cannot become approved"),
    AwsUncertain("dynamodb TransactWriteItems timed out"),
    AwsUnavailable("IAM GetRole: Throttling"),
    BudgetSpent("no time left"),
    LockBusy("LOCK#role is locked by another process"),
    LockHandedOver("handed over"),
    GroupsUnavailable("the Slack user group S0123 cannot be looked up"),
    StoreConflict("put_item"),
    PolicyRejected("IAM refused the policy (LimitExceeded): too big"),
    RoleMissing("the IAM role arn:aws:iam::1:role/X does not exist"),
    RuntimeError("a bug"),
]


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_error_has_a_status_a_title_and_words_for_both_places(error) -> None:
    told = errors.told(error)
    assert told.status in (409, 500, 503) and told.title
    page = errors.page_words(error)
    slack = errors.slack_words(error, "/access")
    assert page and slack and "{" not in page + slack
    if told is errors.OUR_BUG:  # our own bug: no detail of it is shown
        assert "a bug" not in page + slack


def test_no_entry_is_hidden_behind_an_earlier_one() -> None:
    kinds = [kind for kind, _ in errors.TABLE]
    for i, kind in enumerate(kinds):
        assert not any(issubclass(kind, earlier) for earlier in kinds[:i]), kind


def test_what_each_error_tells() -> None:
    assert errors.told(AwsUncertain("x")).status == 503
    assert "nothing was changed" not in errors.page_words(AwsUncertain("x"))
    assert "nothing was changed" not in errors.slack_words(AwsUncertain("x"), "/access")
    assert errors.told(BudgetSpent("x")) is errors.told(AwsUnavailable("x"))
    assert errors.told(LockHandedOver("x")) is errors.told(LockBusy("x"))
    assert errors.told(Refused(Refusal.NOT_PENDING, "no")).status == 409
    assert errors.page_words(Refused(Refusal.NOT_PENDING, "Already approved.")) == (
        "Already approved."
    )
    assert errors.sorry("/grant") == errors.slack_words(RuntimeError("x"), "/grant")
    assert "`/grant list`" in errors.sorry("/grant")


def test_a_new_request_that_could_not_be_confirmed_says_the_approvers_will_hear() -> None:
    words = errors.slack_words(AwsUncertain("x"), "/access", new_request=True)
    assert "could not confirm that your request was recorded" in words
    assert "the approvers will hear of it" in words
    assert "could not confirm that this was recorded" in errors.slack_words(
        AwsUncertain("x"), "/access"
    )


def test_before_the_command_ran_an_unconfirmed_write_changed_nothing() -> None:
    """The replay check's own write may have landed, but the command did not run."""
    words = errors.slack_words(AwsUncertain("timed out"), "/access", nothing_ran=True)
    assert words == errors.slack_words(AwsUnavailable("timed out"), "/access")
    assert "nothing was changed" in words


def test_the_slack_words_escape_the_errors_own_text() -> None:
    words = errors.slack_words(LockBusy("<!channel> & co"), "/access")
    assert "<!channel>" not in words and "&lt;!channel&gt; &amp; co" in words


def test_bugs_are_logged_in_full_and_refusals_not_at_all(caplog) -> None:
    logger = logging.getLogger("test_error_table")
    logger.addHandler(caplog.handler)  # whatever other tests did to propagation
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            for error in SAMPLES:
                try:
                    raise error
                except Exception as raised:
                    errors.log(raised, logger, "%s failed", type(raised).__name__)
    finally:
        logger.removeHandler(caplog.handler)
    logged = {r.getMessage(): r.levelno for r in caplog.records}
    assert logged == {
        "RuntimeError failed": logging.ERROR,
        "StoreConflict failed": logging.WARNING,
        "PolicyRejected failed": logging.WARNING,
        "RoleMissing failed": logging.WARNING,
    }


ENTRY_POINTS = [ROOT / "app.py", *sorted((ROOT / "chalicelib" / "entry").glob("*.py"))]
TABLED = {kind.__name__ for kind, _ in errors.TABLE}


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda p: p.name)
def test_the_entry_points_translate_errors_through_the_table_only(path: Path) -> None:
    """An entry point that catches a tabled error itself would say its own words again."""
    if path.name == "errors.py":
        return
    caught = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            caught |= {n.id for n in names if isinstance(n, ast.Name)}
    # Two rules are exempt: choosing the page's buttons (review_routes._viewer asks whether a
    # refusal applies) and the slash command's hint for an unknown role (slash._request).
    exempt = {"review_routes.py": {"Refused"}, "slash.py": {"Refused"}}.get(path.name, set())
    assert caught & TABLED <= exempt, f"{path.name} catches {sorted(caught & TABLED)}"
