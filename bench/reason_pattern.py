"""What a hostile reason_pattern costs: RE2 (what Switchback uses) against Python's `re`.

Prints, for catastrophic patterns, RE2's time on a 1,000-character hostile reason (the longest
a reason may be), and how Python's backtracking `re` grows on the same pattern as the reason
gets longer (stopped once one match takes more than half a second).

    .venv/bin/python bench/reason_pattern.py
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.core.patterns import matches  # noqa: E402

CASES = [(r"^(x+x+)+y$", "x"), (r"^(a|aa)+$", None), (r"^(([a-z])+.)+[A-Z]([a-z])+$", "a")]


def hostile(unit: str | None, length: int) -> str:
    return "a" * (length - 1) + "!" if unit is None else unit * length


def seconds(match, pattern: str, text: str) -> float:
    started = time.perf_counter()
    match(pattern, text)
    return time.perf_counter() - started


def main() -> None:
    for pattern, unit in CASES:
        re2_time = seconds(matches, pattern, hostile(unit, 1000))
        growth = []
        for length in range(16, 40, 2):
            took = seconds(re.search, pattern, hostile(unit, length))
            growth.append(f"{length}: {took * 1000:.1f} ms")
            if took > 0.5:
                break
        print(f"{pattern}")
        print(f"  RE2, 1000 characters: {re2_time * 1000:.3f} ms")
        print(f"  Python re by length: {', '.join(growth)}")


if __name__ == "__main__":
    main()
