"""What the trust policy and the session-limit policy share as IAM documents: how IAM sizes
them, their statement list, and the error when one would not fit.

IAM counts a policy's characters without whitespace, and accepts a document of exactly its
quota (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
"""

from __future__ import annotations

import json


def minified(policy: dict) -> str:
    return json.dumps(policy, separators=(",", ":"))


def size(document: dict | None) -> int:
    """Characters IAM counts: the minified document (0 when there is none)."""
    return len(minified(document)) if document else 0


def iam_characters(text: str) -> int:
    """Characters IAM counts in a policy document as it holds it: every character but
    whitespace ("IAM and AWS STS quotas": "IAM doesn't count white space when calculating the
    size of a policy against these quotas"). For a document someone else wrote, whose
    formatting is theirs."""
    return sum(1 for character in text if not character.isspace())


def fits(document: dict | None, quota: int) -> bool:
    """The one quota check (trust and inline policies alike): a document of exactly
    ``quota`` characters is accepted."""
    return size(document) <= quota


def statements(policy: dict | None) -> list[dict]:
    """A policy's statements as a list (IAM also accepts a single statement object)."""
    found = (policy or {}).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


class TooLarge(Exception):
    """A policy would be larger than IAM accepts; nothing may be written. ``advice`` says
    what the people concerned can do about it."""

    what = "policy"
    advice = ""

    def __init__(self, size: int, quota: int):
        self.size, self.quota = size, quota
        super().__init__(
            f"the role's {self.what} would be {size} characters, over the {quota}-character "
            f"limit; {self.advice}"
        )


def check_fits(document: dict | None, quota: int, error: type[TooLarge]) -> None:
    if not fits(document, quota):
        raise error(size(document), quota)
