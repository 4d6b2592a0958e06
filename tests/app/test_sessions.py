"""Signed, expiring session cookies and their CSRF token."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.web import sessions
from chalicelib.web.sessions import (
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
    for header, name in ((local, COOKIE_NAME), (deployed, f"__Host-{COOKIE_NAME}")):
        parts = [p.strip() for p in header.split(";")]
        assert parts[0] == f"{name}=v"
        assert "HttpOnly" in parts and "SameSite=Lax" in parts and "Path=/" in parts
        assert f"Max-Age={SESSION_SECONDS}" in parts
    assert "Secure" not in [p.strip() for p in local.split(";")]
    assert "Secure" in [p.strip() for p in deployed.split(";")]


def test_clear_cookie():
    parts = [p.strip() for p in clear_cookie(secure=True).split(";")]
    assert parts[0] == f"__Host-{COOKIE_NAME}=" and "Max-Age=0" in parts and "Secure" in parts


def test_read_cookie():
    _, value = cookie()
    header = f"theme=dark; {COOKIE_NAME}={value}; other=1"
    assert read_cookie(header) == value
    assert read_cookie(f"x{COOKIE_NAME}=nope; a=b") is None
    assert read_cookie(None) is None
    assert read_cookie("") is None
    assert decode(read_cookie(header), KEY, NOW) is not None


# -- the Sign in with Slack attempt ------------------------------------------------------------
def attempt_cookie(now: float = NOW) -> tuple[sessions.SignInAttempt, str]:
    attempt = sessions.new_sign_in("/requests/ABCDEFGHJK", now)
    return attempt, sessions.encode_sign_in(attempt, KEY)


def test_sign_in_attempt_round_trip():
    attempt, value = attempt_cookie()
    assert attempt.expires == int(NOW) + sessions.SIGN_IN_SECONDS
    assert len(attempt.state) >= 40 and len(attempt.nonce) >= 40
    assert attempt.state != attempt.nonce
    assert sessions.decode_sign_in(value, KEY, NOW) == attempt


def test_sign_in_attempt_expires():
    _, value = attempt_cookie()
    assert sessions.decode_sign_in(value, KEY, NOW + sessions.SIGN_IN_SECONDS) is None


def test_sign_in_attempt_tampered_or_wrong_key_is_none():
    attempt, value = attempt_cookie()
    body, mac = value.rsplit(".", 1)
    other = sessions.encode_sign_in(
        sessions.SignInAttempt("their-state", attempt.nonce, "/x", attempt.expires), KEY
    )
    assert sessions.decode_sign_in(f"{other.rsplit('.', 1)[0]}.{mac}", KEY, NOW) is None
    assert sessions.decode_sign_in(value, "another-key", NOW) is None
    assert sessions.decode_sign_in(value[:-2], KEY, NOW) is None


def test_session_and_sign_in_cookies_are_not_interchangeable():
    # Same key, different purposes: neither cookie passes for the other.
    _, session_value = cookie()
    _, attempt_value = attempt_cookie()
    assert sessions.decode_sign_in(session_value, KEY, NOW) is None
    assert decode(attempt_value, KEY, NOW) is None


def test_state_ok():
    attempt, _ = attempt_cookie()
    assert sessions.state_ok(attempt, attempt.state)
    assert not sessions.state_ok(attempt, attempt.nonce)
    assert not sessions.state_ok(attempt, attempt.state + "x")
    assert not sessions.state_ok(attempt, "")
    assert not sessions.state_ok(attempt, None)
    assert not sessions.state_ok(None, attempt.state)
    assert not sessions.state_ok(attempt, "é")


def test_sign_in_cookie_flags():
    parts = [p.strip() for p in sessions.set_sign_in_cookie("v", secure=True).split(";")]
    assert parts[0] == f"__Host-{sessions.SIGN_IN_COOKIE_NAME}=v"
    assert {"HttpOnly", "SameSite=Lax", "Secure", "Path=/"} <= set(parts)
    assert not any(p.lower().startswith("domain") for p in parts)  # __Host- forbids Domain
    assert f"Max-Age={sessions.SIGN_IN_SECONDS}" in parts
    cleared = [p.strip() for p in sessions.clear_sign_in_cookie(secure=False).split(";")]
    assert cleared[0] == f"{sessions.SIGN_IN_COOKIE_NAME}=" and "Max-Age=0" in cleared


def test_a_sign_in_record_is_never_a_session_whatever_its_name_or_fields():
    now = time.time()
    attempt = sessions.new_sign_in("/requests/ABCDEFGHJK", now)
    sign_in_value = sessions.encode_sign_in(attempt, KEY)
    assert decode(sign_in_value, KEY, now) is None
    # Even a record holding a session's fields, sealed as a sign-in record, is refused: only
    # the purpose each kind is signed under tells them apart.
    forged = sessions._seal({"u": "U0BOB", "e": int(now) + 60, "c": "x"}, KEY, "sign-in:")
    assert decode(forged, KEY, now) is None
    session_value = encode(new_session("U0BOB", now), KEY)
    assert sessions.decode_sign_in(session_value, KEY, now) is None
    # the names differ too, and deployed stages add __Host-
    names = {
        sessions.cookie_name(secure, name)
        for secure in (True, False)
        for name in (COOKIE_NAME, sessions.SIGN_IN_COOKIE_NAME)
    }
    assert len(names) == 4
