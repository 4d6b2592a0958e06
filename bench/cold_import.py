"""Cold-start cost: `import app` against the floor every Chalice+boto3 Lambda pays.

Prints the median of several fresh interpreters for each, and their ratio (target ≤ 1.3), and
what the first event and metric add (Powertools is imported then, not at import time).

    .venv/bin/python bench/cold_import.py [runs]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cold(statement: str, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", statement], cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    floor = cold("import boto3, chalice", runs)
    ours = cold("import app", runs)
    print(f"import boto3, chalice: {floor:6.1f} ms (median of {runs})")
    print(f"import app:            {ours:6.1f} ms (median of {runs})")
    print(f"ratio:                 {ours / floor:6.2f} (target <= 1.3)")
    first = cold(
        "import app; from chalicelib import telemetry; "
        "telemetry.event('bench.cold'); telemetry.metric('bench'); telemetry.flush()",
        runs,
    )
    print(
        f"import app + first event and metric: {first:6.1f} ms (+{first - ours:.1f} ms, "
        "once per cold start)"
    )


if __name__ == "__main__":
    main()
