"""What one activity report costs in CloudTrail calls, and the rate it keeps.

For a grant with 0, 100 and 5,000 recorded events (and 5,000 with CloudTrail throttling three
times), reads them through the real adapter and boto3 from the CloudTrail stand-in over HTTP,
with the default regions (the deployment's, eu-west-1 here, plus us-east-1) and the default cap.
The rate limiter runs on a fake clock, so the bench does not wait out CloudTrail's 2 requests
per second; it prints the time the same calls take at that rate, and the busiest second seen.

    .venv/bin/python bench/activity_calls.py
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.aws import clients as aws  # noqa: E402
from chalicelib.aws.cloudtrail import CloudTrailClients, CloudTrailReader, RateLimiter  # noqa: E402
from chalicelib.core.activity import produce_report  # noqa: E402
from testkit.activity_samples import END, ROLE_ARN, START  # noqa: E402
from testkit.activity_samples import sample_grant as grant  # noqa: E402
from testkit.activity_samples import sample_role as role  # noqa: E402
from testkit.cloudtrail_standin import CloudTrailStandIn, record, session_arn  # noqa: E402

HOME = "eu-west-1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def recorded(count: int) -> list[dict]:
    """``count`` calls by alice's session, spread over the hour, most of them reads."""
    alice = session_arn(ROLE_ARN, "alice")
    step = 3600 / max(count, 1)
    return [
        record(
            alice,
            "ec2",
            "DescribeInstances" if i % 10 else "RunInstances",
            START + timedelta(seconds=i * step),
            region=HOME if i % 4 else "us-east-1",
            resources=[f"i-{i:017x}"],
        )
        for i in range(count)
    ]


def measure(standin: CloudTrailStandIn, count: int, throttles: int = 0) -> None:
    standin.reset()
    standin.add(*recorded(count))
    standin.throttle(throttles)
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    reader = CloudTrailReader(CloudTrailClients({}), HOME, limiter=limiter, sleep=clock.sleep)
    started = time.perf_counter()
    report = produce_report(grant(), role(), reader, END + timedelta(minutes=20))
    wall = time.perf_counter() - started
    by_region = {}
    for request in standin.requests:
        by_region[request["region"]] = by_region.get(request["region"], 0) + 1
    per_region = ", ".join(f"{r} {n}" for r, n in sorted(by_region.items()))
    label = f"{count:>5} events" + (f", {throttles} throttled" if throttles else "")
    print(
        f"{label}: {len(standin.requests)} LookupEvents calls ({per_region}); "
        f"report: {report.total} calls, {report.write_count} writes, truncated={report.truncated}; "
        f"busiest second {limiter.busiest_second()} requests per region; "
        f"at 2/s per region: {clock.now:.1f} s; here {wall * 1000:.0f} ms"
    )


def main() -> None:
    with CloudTrailStandIn() as standin:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL_CLOUDTRAIL": standin.url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": HOME,
            }
        )
        aws.forget()
        for count in (0, 100, 5000):
            measure(standin, count)
        measure(standin, 5000, throttles=3)
        measure(standin, 6000)


if __name__ == "__main__":
    main()
