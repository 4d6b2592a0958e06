"""Durations as people type them in a command: `2 hours`, `90 minutes`, `1 day`, `2 h` are one
duration; what looks like a duration but is not one (`1:30`, `-5m`, `1.5h`, `2hours30`, a bare
`90`) is refused with the accepted forms, never read as the start of the reason with a
default-length request. The same for `request`, `breakglass` and `extend`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.catalog import Catalog, Person, RoleSpec
from chalicelib.core.commands import BadCommand, ExtendCommand, RequestCommand, parse_command
from chalicelib.core.decisions import Refusal, Refused, check_request
from chalicelib.core.durations import ACCEPTED_FORMS, UNIT_WORDS, format_duration, read_duration

ALICE = Person("U0ALICE", "alice", "arn:aws:iam::123456789012:user/alice")
EC2_ADMIN = RoleSpec(
    name="ec2-admin",
    role_arn="arn:aws:iam::123456789012:role/AWSEC2FULLACCESS",
    description="Full EC2 access",
    max_duration=timedelta(hours=4),
    default_duration=timedelta(hours=1),
    requesters=("*",),
    approvers=("U0BOB",),
)
CATALOG = Catalog(people={"U0ALICE": ALICE}, roles={"ec2-admin": EC2_ADMIN})


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2 hours", timedelta(hours=2)),
        ("2 h", timedelta(hours=2)),
        ("2 H", timedelta(hours=2)),
        ("1 hr", timedelta(hours=1)),
        ("3 hrs", timedelta(hours=3)),
        ("1 hour", timedelta(hours=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("30 mins", timedelta(minutes=30)),
        ("1 min", timedelta(minutes=1)),
        ("45 m", timedelta(minutes=45)),
        ("1 day", timedelta(days=1)),
        ("2 days", timedelta(days=2)),
        ("1 hour 30 minutes", timedelta(hours=1, minutes=30)),
        ("1 hour and 30 minutes", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1h 30 minutes", timedelta(hours=1, minutes=30)),
        ("2 hours,", timedelta(hours=2)),
        ("2h:", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
    ],
)
@pytest.mark.parametrize("verb", ["request", "breakglass"])
def test_a_number_and_a_unit_word_are_one_duration(verb, typed, expected) -> None:
    command = parse_command(f"{verb} ec2-admin {typed} INC-1 resize the ASG")
    assert command == RequestCommand(
        "ec2-admin", expected, "INC-1 resize the ASG", break_glass=verb == "breakglass"
    )


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2 hours", timedelta(hours=2)),
        ("2 h", timedelta(hours=2)),
        ("90 minutes", timedelta(minutes=90)),
    ],
)
def test_extend_reads_the_same_durations(typed, expected) -> None:
    assert parse_command(f"extend 7QK2M9TX4B {typed} still resizing") == ExtendCommand(
        "7QK2M9TX4B", expected, "still resizing"
    )
    assert parse_command(f"extend 7QK2M9TX4B {typed}") == ExtendCommand("7QK2M9TX4B", expected, "")


def test_two_hours_is_not_two_minutes() -> None:
    # what a new user typed: it was answered "Did you mean `2m`?"
    for text in ("request ec2-admin 2 hours INC-1", "request ec2-admin 2 h INC-1"):
        command = parse_command(text)
        assert isinstance(command, RequestCommand), command
        assert command.duration == timedelta(hours=2) and command.reason == "INC-1"


def test_one_day_reaches_the_roles_maximum_and_is_refused_naming_it() -> None:
    command = parse_command("request ec2-admin 1 day INC-1 long job")
    assert isinstance(command, RequestCommand) and command.duration == timedelta(days=1)
    with pytest.raises(Refused) as refused:
        check_request(CATALOG, "U0ALICE", command.role, command.duration, command.reason)
    assert refused.value.reason is Refusal.DURATION_TOO_LONG
    assert refused.value.message == "1d is longer than ec2-admin allows (4h at most)."


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("1:30", "`1:30` is not a duration."),
        ("01:30:00", "`01:30:00` is not a duration."),
        ("-5m", "`-5m` is not a duration: a duration is how long, never negative."),
        ("+5m", "`+5m` is not a duration"),
        ("\u22125m", "is not a duration"),  # a minus sign, as phones type it
        ("1.5h", "`1.5h` is not a duration. Did you mean `1h30m`?"),
        ("1,5h", "Did you mean `1h30m`?"),
        ("1.5", "`1.5` is not a duration."),
        ("2hours30", "`2hours30` is not a duration. Did you mean `2h30m`?"),
        ("1h30", "`1h30` is not a duration. Did you mean `1h30m`?"),
        ("2hrs", "Did you mean `2h`?"),
        ("90", "`90` is not a duration. Did you mean `90m`?"),
        ("0", "`0` is not a duration"),
        ("0m", "'0m' is zero; ask for at least 1m."),
        ("0 hours", "'0 hours' is zero; ask for at least 1m."),
        ("1m1h", "'1m1h' is not a duration"),
        ("PT1H", "`PT1H` is not a duration."),
        ("two hours", "`two hours` is not a duration: write the number in digits."),
        ("an hour", "`an hour` is not a duration: write the number in digits."),
        ("half an hour", "`half an hour` is not a duration"),
        ("99999999999999 days", "is far too long"),
    ],
)
@pytest.mark.parametrize("verb", ["request", "breakglass"])
def test_what_looks_like_a_duration_but_is_not_one_is_refused(verb, typed, says) -> None:
    command = parse_command(f"{verb} ec2-admin {typed} INC-1 resize")
    assert isinstance(command, BadCommand), command
    assert says in command.problem
    assert command.problem.endswith("Nothing was requested.")
    assert not command.show_usage and "\n" not in command.problem  # one line


@pytest.mark.parametrize("typed", ["1:30", "-5m", "1.5h", "2hours30", "90", "two hours"])
def test_extend_refuses_them_too(typed) -> None:
    command = parse_command(f"extend 7QK2M9TX4B {typed} still resizing")
    assert isinstance(command, BadCommand), command
    assert "is not a duration" in command.problem and not command.show_usage


@pytest.mark.parametrize("typed", ["1:30", "-5m", "PT1H", "1.5", "two hours"])
def test_the_refusal_names_the_accepted_forms(typed) -> None:
    command = parse_command(f"request ec2-admin {typed} INC-1 x")
    assert ACCEPTED_FORMS in command.problem


# -- reasons that start with a number --------------------------------------------------------
def test_a_reason_starting_with_a_number_needs_the_duration_before_it() -> None:
    refused = parse_command("request ec2-admin 2 servers down")
    assert isinstance(refused, BadCommand)
    assert (
        "A reason that starts with a number goes after the duration: "
        "`request ec2-admin 1h 2 …`." in refused.problem
    )
    assert parse_command("request ec2-admin 1h 2 servers down") == RequestCommand(
        "ec2-admin", timedelta(hours=1), "2 servers down"
    )
    assert parse_command("request ec2-admin 2 hours 2 servers down") == RequestCommand(
        "ec2-admin", timedelta(hours=2), "2 servers down"
    )


@pytest.mark.parametrize(
    "reason",
    ["INC-42 fix", "P1 outage", "a second look at the ASG", "ASG at 10 nodes", "#123 broken"],
)
def test_reasons_that_only_contain_numbers_or_words_are_reasons(reason) -> None:
    assert parse_command(f"request ec2-admin {reason}") == RequestCommand("ec2-admin", None, reason)


def test_after_a_duration_the_reason_is_free_text() -> None:
    # only a smaller unit right after the duration joins it; anything else is the reason
    assert parse_command("request ec2-admin 1h 1h again") == RequestCommand(
        "ec2-admin", timedelta(hours=1), "1h again"
    )
    assert parse_command("request ec2-admin 30m 2 hours of logs") == RequestCommand(
        "ec2-admin", timedelta(minutes=30), "2 hours of logs"
    )


def test_read_duration_says_how_many_words_it_used() -> None:
    assert read_duration(["1", "hour", "and", "30", "minutes", "x"]).used == 5
    assert read_duration(["1", "hour", "and", "x"]).used == 2
    assert read_duration(["INC-1"]).used == 0 and read_duration([]).value is None


# -- properties --------------------------------------------------------------------------------
SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
WORDS_FOR = {unit: sorted(w for w, u in UNIT_WORDS.items() if u == unit) for unit in "dhms"}
reasons = st.sampled_from(["INC-1 resize", "INC-42", "fix the ASG", "P1 outage", "x"])


@st.composite
def spelled_durations(draw) -> tuple[str, timedelta]:
    """A duration written any accepted way: `1h30m`, `1 hour 30 mins`, `1h and 30 m`…"""
    units = draw(st.lists(st.sampled_from("dhms"), min_size=1, max_size=4, unique=True))
    units.sort(key="dhms".index)
    amounts = [draw(st.integers(1, 500)) for _ in units]
    pieces = []
    for amount, unit in zip(amounts, units, strict=True):
        if draw(st.booleans()):
            pieces.append(f"{amount}{unit}")
        else:
            pieces.append(f"{amount} {draw(st.sampled_from(WORDS_FOR[unit]))}")
        if len(pieces) < len(units) and draw(st.booleans()):
            pieces.append("and")
    total = sum(a * SECONDS[u] for a, u in zip(amounts, units, strict=True))
    return " ".join(pieces), timedelta(seconds=total)


@settings(max_examples=300, deadline=None)
@given(spelled_durations(), reasons, st.sampled_from(["request", "breakglass"]))
def test_every_accepted_form_is_read_whole(spelled, reason, verb) -> None:
    text, value = spelled
    command = parse_command(f"{verb} ec2-admin {text} {reason}")
    assert command == RequestCommand("ec2-admin", value, reason, verb == "breakglass")
    extend = parse_command(f"extend 7QK2M9TX4B {text} {reason}")
    assert extend == ExtendCommand("7QK2M9TX4B", value, reason)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400 * 86400), reasons)
def test_every_formatted_duration_round_trips(seconds, reason) -> None:
    value = timedelta(seconds=seconds)
    command = parse_command(f"request ec2-admin {format_duration(value)} {reason}")
    assert command == RequestCommand("ec2-admin", value, reason)


number = st.integers(0, 999).map(str)
near_misses = st.one_of(
    st.builds(lambda a, b: f"{a}:{b:02d}", number, st.integers(0, 59)),  # 1:30
    st.builds(
        lambda s, a, u: f"{s}{a}{u}",
        st.sampled_from("-+\u2212"),
        number,
        st.sampled_from(["", "m", "h", "hours"]),
    ),
    st.builds(
        lambda a, b, u: f"{a}.{b}{u}", number, number, st.sampled_from(["", "h", "m", "hours"])
    ),
    st.builds(
        lambda a, u, b: f"{a}{u}{b}", number, st.sampled_from(["h", "hours", "hrs", "d"]), number
    ),
    st.builds(
        lambda a, u: f"{a}{u}", number, st.sampled_from(["hrs", "hours", "mins", "min", "hr"])
    ),
    number,  # a bare number
    st.builds(
        lambda w, u: f"{w} {u}",
        st.sampled_from(["one", "two", "an", "a", "half an"]),
        st.sampled_from(["hour", "hours", "minutes", "days"]),
    ),
    st.builds(lambda a, u: f"{a} {u}", st.just("0"), st.sampled_from(sorted(UNIT_WORDS))),
)


@settings(max_examples=500, deadline=None)
@given(near_misses, reasons, st.sampled_from(["request", "breakglass"]))
def test_nothing_duration_like_slips_into_a_reason(typed, reason, verb) -> None:
    command = parse_command(f"{verb} ec2-admin {typed} {reason}")
    if isinstance(command, RequestCommand):
        # read as a duration (`1h30` never is; `1.0h`-like forms are refused too): not a reason
        assert command.duration is not None
        assert command.reason == reason
    else:
        assert isinstance(command, BadCommand) and not command.show_usage
        assert "Nothing was requested." in command.problem
    extend = parse_command(f"extend 7QK2M9TX4B {typed} {reason}")
    assert isinstance(extend, BadCommand) or extend.reason == reason
