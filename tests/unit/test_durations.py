"""Durations as people type them: ``15m``, ``2h``, ``1h30m``, ``1d``, ``90s``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.durations import (
    DurationError,
    format_duration,
    looks_like_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("90s", timedelta(seconds=90)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("90m", timedelta(minutes=90)),
        ("0h30m", timedelta(minutes=30)),
        ("1H30M", timedelta(hours=1, minutes=30)),
        (" 2h ", timedelta(hours=2)),
        ("007m", timedelta(minutes=7)),
    ],
)
def test_parses(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0m",
        "0h0m",
        "1x",
        "m",
        "h1",
        "1",
        "1m1h",  # wrong order
        "30m1h",
        "1s1m",
        "1h1h",  # a unit twice
        "1h30m30m",
        "-5m",
        "+5m",
        "1h 30m",  # inner space
        "1 h",
        "1.5h",
        "1h,30m",
        "1hour",
        "PT1H",
        "١٥m",  # Arabic-Indic digits
        "１５m",  # full-width digits
        "99999999999999d",  # too long for a timedelta
        pytest.param("9" * 5000 + "s", id="5000-digits"),  # longer than int() reads
        pytest.param("0" * 5000 + "1m", id="5000-leading-zeros"),
    ],
)
def test_rejects(text):
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert str(raised.value)  # a message meant for the person who typed it


def test_rejection_messages_quote_the_input_and_show_examples():
    with pytest.raises(DurationError, match=r"'1x' is not a duration.*15m, 2h or 1h30m"):
        parse_duration("1x")
    with pytest.raises(DurationError, match=r"'0m' is zero; ask for at least 1m"):
        parse_duration("0m")


def test_duration_error_is_a_value_error():
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1), "1d"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(hours=12), "12h"),
        (timedelta(0), "0m"),
        (timedelta(seconds=-5), "0m"),
        (timedelta(minutes=1, microseconds=999_999), "1m"),
    ],
)
def test_format(value, text):
    assert format_duration(value) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=400 * 86400))
def test_format_round_trips(seconds):
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert parse_duration(text) == value
    assert looks_like_duration(text)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(0, 100),
    st.integers(0, 1000),
    st.integers(0, 100_000),
    st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_any_well_ordered_text_parses_to_its_sum(days, hours, minutes, seconds, present):
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    chosen = [(n, unit) for (n, unit), keep in zip(parts, present, strict=True) if keep]
    text = "".join(f"{n}{unit}" for n, unit in chosen)
    total = sum(n * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit] for n, unit in chosen)
    if total > 0:
        assert parse_duration(text) == timedelta(seconds=total)
    else:
        with pytest.raises(DurationError):
            parse_duration(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_any_text_parses_or_raises_duration_error(text):
    try:
        value = parse_duration(text)
    except DurationError:
        return
    assert value > timedelta(0)
    assert looks_like_duration(text)


def test_looks_like_duration():
    assert looks_like_duration("1h30m")
    assert looks_like_duration("1m1h")  # the shape of one, so the parser can explain the mistake
    assert not looks_like_duration("INC-42")
    assert not looks_like_duration("1h 30m")
    assert not looks_like_duration("")
