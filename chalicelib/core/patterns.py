"""A role's ``reason_pattern``, matched in linear time whatever it is.

Python's ``re`` backtracks: a pattern like ``(a+)+$`` against a long run of ``a`` takes
exponential time, and one slash command would hold the Lambda (and Slack's 3 seconds) hostage.
RE2 (google-re2) guarantees time linear in the text, and refuses what it cannot do that way
(backreferences, lookaround), so such a pattern is refused when the policies load instead.
Imported on first use only: most deployments have no reason_pattern, and cold starts stay lean.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


class PatternError(ValueError):
    """The pattern is not one RE2 can match in linear time; the message says why."""


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # the error is ours to report, with the file and field
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        first = error.args[0] if error.args else error
        detail = first.decode() if isinstance(first, bytes) else first
        raise PatternError(
            f"not a regular expression Switchback can match in linear time ({detail}); "
            "backreferences and lookaround are not supported"
        ) from None


def matches(pattern: str, text: str) -> bool:
    """Does ``pattern`` occur anywhere in ``text`` (like ``re.search``)?"""
    return compile_pattern(pattern).search(text) is not None
