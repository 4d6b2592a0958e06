"""``/access unsuspend <person> <role>``: parsed, and the person found however named."""

from __future__ import annotations

from chalicelib.core.catalog import Catalog, Person
from chalicelib.core.commands import BadCommand, UnsuspendCommand, parse_command
from chalicelib.core.suspension import find_person

PEOPLE = {
    "U0ALICE": Person("U0ALICE", "alice", "arn:aws:iam::123456789012:user/alice"),
    "U0BOB": Person("U0BOB", "bob", "arn:aws:iam::123456789012:user/bob"),
}
CATALOG = Catalog(people=PEOPLE, roles={})


def test_unsuspend_takes_a_person_and_a_role() -> None:
    assert parse_command("unsuspend <@U0ALICE|alice> ops") == UnsuspendCommand(
        "<@U0ALICE|alice>", "ops"
    )
    assert parse_command("UNSUSPEND U0ALICE ops") == UnsuspendCommand("U0ALICE", "ops")
    for text in ("unsuspend", "unsuspend U0ALICE", "unsuspend U0ALICE ops now"):
        assert isinstance(parse_command(text), BadCommand)


def test_a_person_is_a_mention_an_id_or_a_name() -> None:
    for text in ("<@U0ALICE>", "<@U0ALICE|alice>", "U0ALICE", "u0alice", "alice", "@alice"):
        assert find_person(CATALOG, text) == "U0ALICE", text
    for text in ("<@U0NOBODY>", "carol", "", "<@U0ALICE"):
        assert find_person(CATALOG, text) is None, text
