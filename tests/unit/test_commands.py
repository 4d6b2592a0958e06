"""The slash-command language: ``request <role> [<duration>] <reason…>``, ``roles``, …"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.core.commands import (
    BadCommand,
    IdCommand,
    RequestCommand,
    SimpleCommand,
    parse_command,
)
from chalicelib.core.durations import read_duration


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_help(text):
    assert parse_command(text) == SimpleCommand("help")


@pytest.mark.parametrize("verb", ["help", "roles", "list"])
def test_simple_verbs(verb):
    assert parse_command(verb) == SimpleCommand(verb)
    assert parse_command(f"  {verb.upper()}  ") == SimpleCommand(verb)


def test_request_with_duration_and_reason():
    assert parse_command("request ec2-admin 1h INC-42 fix ASG") == RequestCommand(
        role="ec2-admin", duration=timedelta(hours=1), reason="INC-42 fix ASG"
    )


def test_request_duration_is_optional():
    assert parse_command("request ec2-admin INC-42 fix ASG") == RequestCommand(
        role="ec2-admin", duration=None, reason="INC-42 fix ASG"
    )


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("request ec2-admin 15m x", timedelta(minutes=15)),
        ("request ec2-admin 2h x", timedelta(hours=2)),
        ("request ec2-admin 1h30m x", timedelta(hours=1, minutes=30)),
        ("request ec2-admin 1H30M x", timedelta(hours=1, minutes=30)),
    ],
)
def test_request_durations(text, duration):
    command = parse_command(text)
    assert isinstance(command, RequestCommand)
    assert command.duration == duration
    assert command.reason == "x"


def test_reason_is_kept_verbatim_with_its_inner_spacing():
    text = "request  ec2-admin   2h   INC-42:  resize   the\tASG  <@U123> & *bold*  "
    command = parse_command(text)
    assert command == RequestCommand(
        role="ec2-admin",
        duration=timedelta(hours=2),
        reason="INC-42:  resize   the\tASG  <@U123> & *bold*",
    )


def test_reason_spanning_lines_is_kept():
    command = parse_command("request ec2-admin 1h line one\n  line two")
    assert command.reason == "line one\n  line two"


def test_reason_that_repeats_the_role_or_duration_is_kept_whole():
    command = parse_command("request ec2-admin 1h 1h ec2-admin request")
    assert command == RequestCommand("ec2-admin", timedelta(hours=1), "1h ec2-admin request")


def test_role_is_lower_cased_and_verb_is_case_insensitive():
    command = parse_command("REQUEST EC2-Admin 30m Why Not")
    assert command == RequestCommand("ec2-admin", timedelta(minutes=30), "Why Not")


def test_request_without_reason_keeps_an_empty_reason():
    # decisions.check_request refuses it with a helpful message
    assert parse_command("request ec2-admin 1h") == RequestCommand(
        "ec2-admin", timedelta(hours=1), ""
    )
    assert parse_command("request ec2-admin") == RequestCommand("ec2-admin", None, "")


def test_request_without_role_is_bad():
    command = parse_command("request")
    assert isinstance(command, BadCommand)
    assert "role" in command.problem


@pytest.mark.parametrize(
    "duration",
    ["1m1h", "1h1h", "0m", "0h0m", "99999999999999d", "9" * 500 + "m"],
)
def test_bad_duration_is_bad_command(duration):
    command = parse_command(f"request ec2-admin {duration} INC-42 reason")
    assert isinstance(command, BadCommand)
    assert command.problem


@pytest.mark.parametrize("verb", ["cancel", "revoke", "approve", "deny"])
def test_id_verbs(verb):
    assert parse_command(f"{verb} 7QK2M9TX4B") == IdCommand(verb, "7QK2M9TX4B")
    assert parse_command(f"  {verb.title()}   7qk2m9tx4b ") == IdCommand(verb, "7qk2m9tx4b")


@pytest.mark.parametrize("verb", ["cancel", "revoke"])
@pytest.mark.parametrize("args", ["", " 7QK2M9TX4B 8QK2M9TX4B", " 7QK2M9TX4B please"])
def test_id_verbs_take_exactly_one_id(verb, args):
    command = parse_command(verb + args)
    assert isinstance(command, BadCommand)
    assert f"`{verb}` takes one request id" in command.problem


@pytest.mark.parametrize("text", ["grant ec2-admin", "requests", "??"])
def test_unknown_verb_is_bad_command(text):
    command = parse_command(text)
    assert isinstance(command, BadCommand)
    assert text.split()[0] in command.problem


def test_unknown_verb_is_quoted_short():
    command = parse_command("x" * 500)
    assert isinstance(command, BadCommand)
    assert len(command.problem) < 100


words = st.text(
    alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
    min_size=1,
    max_size=8,
)
separators = st.text(alphabet=" \t", min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(words, separators), min_size=1, max_size=6))
def test_reason_round_trips_whatever_its_spacing(parts):
    reason = "".join(word + sep for word, sep in parts).rstrip(" \t")
    # A reason that starts with a smaller unit joins the duration (`1h 30 min`, docs/slack.md):
    # that is the rule, not a lost reason.
    assume(read_duration(["1h", *reason.split()]).used == 1)
    command = parse_command(f"request ec2-admin 1h {reason}")
    assert command == RequestCommand("ec2-admin", timedelta(hours=1), reason)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_command(text):
    command = parse_command(text)
    assert isinstance(command, RequestCommand | SimpleCommand | IdCommand | BadCommand)
