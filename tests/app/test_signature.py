"""Slack request signing (v0), checked against Slack's own documented example."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.entry.slack_signature import TOLERANCE_SECONDS, is_valid, sign

# Slack's documented example request, kept in the repository so a fresh clone tests it.
VECTOR_PATH = Path(__file__).resolve().parent / "fixtures" / "slack-signing-vector.json"


@pytest.fixture(scope="module")
def vector() -> dict:
    return json.loads(VECTOR_PATH.read_text())


def check(vector: dict, now: float, **changes) -> bool:
    args = {
        "secret": vector["signing_secret"],
        "timestamp": vector["timestamp"],
        "body": vector["body"].encode(),
        "signature": vector["signature"],
    }
    args.update(changes)
    return is_valid(args["secret"], args["timestamp"], args["body"], args["signature"], now)


def test_slacks_example_is_accepted_at_its_own_time(vector):
    assert (
        sign(vector["signing_secret"], vector["timestamp"], vector["body"].encode())
        == (vector["signature"])
    )
    assert check(vector, now=int(vector["timestamp"]))


def test_slacks_example_is_rejected_now(vector):
    assert not check(vector, now=time.time())


def test_flipped_byte_in_body_or_signature(vector):
    at = int(vector["timestamp"])
    body = bytearray(vector["body"].encode())
    for i in (0, len(body) // 2, len(body) - 1):
        flipped = bytearray(body)
        flipped[i] ^= 0x01
        assert not check(vector, at, body=bytes(flipped))
    assert not check(vector, at, body=bytes(body) + b"&x=1")
    signature = vector["signature"]
    for i in (3, 20, len(signature) - 1):
        wrong = signature[:i] + ("0" if signature[i] != "0" else "1") + signature[i + 1 :]
        assert not check(vector, at, signature=wrong)
    assert not check(vector, at, signature=signature.upper())
    assert not check(vector, at, signature=signature[:-1])
    assert not check(vector, at, signature="v1=" + signature[3:])
    assert not check(vector, at, secret=vector["signing_secret"] + "x")


@pytest.mark.parametrize(
    "changes",
    [
        {"signature": None},
        {"signature": ""},
        {"timestamp": None},
        {"timestamp": ""},
        {"secret": ""},
        {"timestamp": "soon"},
        {"timestamp": "1531420618.0"},
        {"timestamp": "0x5b47a0ca"},
        {"signature": "v0=" + "é" * 64},  # non-ASCII must be refused, not raise
        {"signature": "\udcff"},
    ],
)
def test_missing_or_malformed_parts(vector, changes):
    assert check(vector, int(vector["timestamp"]), **changes) is False


def test_timestamp_tolerance(vector):
    at = int(vector["timestamp"])
    assert TOLERANCE_SECONDS == 300
    assert check(vector, at + 299)
    assert check(vector, at - 299)
    assert check(vector, at + 300)
    assert not check(vector, at + 301)
    assert not check(vector, at - 301)


def test_only_the_exact_signed_timestamp_counts():
    secret, body, now = "s3cret", b"text=hi", 1_800_000_000
    signature = sign(secret, str(now), body)
    assert is_valid(secret, str(now), body, signature, now)
    assert not is_valid(secret, str(now + 1), body, signature, now)
    assert not is_valid(secret, f" {now}", body, signature, now)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30), st.binary(max_size=200), st.integers(0, 2**33))
def test_sign_then_verify(secret, body, now):
    signature = sign(secret, str(now), body)
    assert signature.startswith("v0=") and len(signature) == 67
    assert is_valid(secret, str(now), body, signature, now)
    assert not is_valid(secret, str(now), body + b"x", signature, now)
