"""Signed, expiring session cookies and their CSRF token."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import sessions
from chalicelib.sessions import (
    COOKIE_NAME,
    SESSION_SECONDS,
    Session,
    clear_cookie,
    csrf_ok,
    decode,
    encode,
    new_session,
    read_cookie,
    set_cookie,
)

KEY = "cookie-key-for-tests"
NOW = 1_800_000_000.0


def cookie(user: str = "U0BOB", now: float = NOW) -> tuple[Session, str]:
    session = new_session(user, now)
    return session, encode(session, KEY)


def test_round_trip():
    session, value = cookie()
    assert session.expires == int(NOW) + SESSION_SECONDS
    assert len(session.csrf) >= 32
    assert decode(value, KEY, NOW) == session
    assert decode(value, KEY, NOW + SESSION_SECONDS - 1) == session


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=40), st.integers(1, 10**6))
def test_round_trip_any_user(user, lifetime):
    session = new_session(user, NOW, lifetime)
    assert decode(encode(session, KEY), KEY, NOW) == session


def test_fresh_sessions_have_distinct_csrf_tokens():
    assert len({new_session("U0BOB", NOW).csrf for _ in range(20)}) == 20


def test_expired_is_none():
    _, value = cookie()
    assert decode(value, KEY, NOW + SESSION_SECONDS) is None
    assert decode(value, KEY, NOW + SESSION_SECONDS + 3600) is None


def test_wrong_key_is_none():
    _, value = cookie()
    assert decode(value, "another-key", NOW) is None


@pytest.mark.parametrize("value", [None, "", "no-dot", ".", "abc.", ".abc", "a.b.c"])
def test_malformed_is_none(value):
    assert decode(value, KEY, NOW) is None


def test_tampered_body_is_none():
    session, value = cookie()
    body, mac = value.rsplit(".", 1)
    forged = Session(user="U0ADMIN", expires=session.expires, csrf=session.csrf)
    forged_body = encode(forged, KEY).rsplit(".", 1)[0]
    assert decode(f"{forged_body}.{mac}", KEY, NOW) is None
    for i in range(len(body)):
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert decode(f"{flipped}.{mac}", KEY, NOW) is None


def test_tampered_mac_is_none():
    _, value = cookie()
    body, mac = value.rsplit(".", 1)
    for i in range(len(mac)):
        flipped = mac[:i] + ("A" if mac[i] != "A" else "B") + mac[i + 1 :]
        assert decode(f"{body}.{flipped}", KEY, NOW) is None
    assert decode(f"{body}.{mac[:-1]}", KEY, NOW) is None
    assert decode(f"{body}.", KEY, NOW) is None


@pytest.mark.parametrize("mac", ["é", "\u2603" * 43, "\x00", "\ud800"])
def test_non_ascii_mac_is_none_not_an_error(mac):
    _, value = cookie()
    body = value.rsplit(".", 1)[0]
    assert decode(f"{body}.{mac}", KEY, NOW) is None


@pytest.mark.parametrize("body", ["é", "\ud800", "\u2603" * 10])
def test_non_ascii_body_is_none_not_an_error(body):
    assert decode(f"{body}.abc", KEY, NOW) is None


def test_validly_signed_garbage_is_none():
    # a body we signed ourselves but that is not a session (defence in depth)
    for body in ("bm90IGpzb24", "W10", "eyJ1IjoxfQ", "!!!"):
        assert decode(f"{body}.{sessions._mac(KEY, body)}", KEY, NOW) is None


def test_csrf_ok():
    session, _ = cookie()
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, session.csrf[:-1])
    assert not csrf_ok(session, session.csrf + "x")
    assert not csrf_ok(session, "")
    assert not csrf_ok(session, None)
    assert not csrf_ok(None, session.csrf)
    assert not csrf_ok(session, new_session("U0BOB", NOW).csrf)


@pytest.mark.parametrize("submitted", ["é", "\ufffd", "token\u2603", "\udcff"])
def test_csrf_non_ascii_is_false_not_an_error(submitted):
    # form fields are decoded with errors="replace", so anything can arrive
    session, _ = cookie()
    assert csrf_ok(session, submitted) is False


def test_csrf_uses_a_constant_time_compare(monkeypatch):
    calls = []
    real = sessions.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(sessions.hmac, "compare_digest", spy)
    session, _ = cookie()
    assert csrf_ok(session, session.csrf)
    assert calls


def test_cookie_flags():
    local = set_cookie("v", secure=False)
    deployed = set_cookie("v", secure=True)
    for header in (local, deployed):
        parts = [p.strip() for p in header.split(";")]
        assert parts[0] == f"{COOKIE_NAME}=v"
        assert "HttpOnly" in parts and "SameSite=Lax" in parts and "Path=/" in parts
        assert f"Max-Age={SESSION_SECONDS}" in parts
    assert "Secure" not in [p.strip() for p in local.split(";")]
    assert "Secure" in [p.strip() for p in deployed.split(";")]


def test_clear_cookie():
    parts = [p.strip() for p in clear_cookie(secure=True).split(";")]
    assert parts[0] == f"{COOKIE_NAME}=" and "Max-Age=0" in parts and "Secure" in parts


def test_read_cookie():
    _, value = cookie()
    header = f"theme=dark; {COOKIE_NAME}={value}; other=1"
    assert read_cookie(header) == value
    assert read_cookie(f"x{COOKIE_NAME}=nope; a=b") is None
    assert read_cookie(None) is None
    assert read_cookie("") is None
    assert decode(read_cookie(header), KEY, NOW) is not None
