"""The CloudTrail adapter (chalicelib/aws/cloudtrail.py) against the stand-in over real HTTP,
through boto3 as deployed: pages, throttling, the cap, CloudTrail's 2 requests per second per
account and region, AWS_ENDPOINT_URL_CLOUDTRAIL, another account through its manager role."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib.aws import clients as aws_clients
from chalicelib.aws.cloudtrail import CloudTrailClients, CloudTrailReader, RateLimiter
from chalicelib.core import activity, activity_schedule
from chalicelib.core.errors import AwsRefused, AwsUnavailable
from testkit.activity_samples import END, ROLE_ARN, START
from testkit.activity_samples import sample_grant as grant
from testkit.activity_samples import sample_role as role
from testkit.cloudtrail_standin import CloudTrailStandIn, record, session_arn

ALICE = session_arn(ROLE_ARN, "alice")
SPOKE_ROLE = "arn:aws:iam::210987654321:role/Billing"
MANAGER = "arn:aws:iam::210987654321:role/switchback-manager"


class FakeClock:
    """A monotonic clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudTrailStandIn]:
    """The stand-in, reached as boto3 reaches CloudTrail: through AWS_ENDPOINT_URL_CLOUDTRAIL
    (AWS_ENDPOINT_URL points elsewhere, where nothing answers)."""
    with CloudTrailStandIn() as running:
        for name, value in {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_CLOUDTRAIL": running.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        aws_clients.forget()
        yield running
        aws_clients.forget()


def calls(count: int, region: str = "us-east-1", identity: str = ALICE) -> list[dict]:
    return [
        record(identity, "ec2", "RunInstances", START + timedelta(seconds=i), region=region)
        for i in range(count)
    ]


def reader(clock: FakeClock, cap: int = activity.EVENT_CAP, **options) -> CloudTrailReader:
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    return CloudTrailReader(
        CloudTrailClients({}),
        "eu-west-1",
        limiter=limiter,
        cap=cap,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
        **options,
    )


WINDOW = (START - timedelta(minutes=5), END + timedelta(minutes=5))


def test_pages_are_followed_in_every_region_asked(standin: CloudTrailStandIn) -> None:
    standin.add(*calls(120, "us-east-1"), *calls(3, "eu-west-1"))
    standin.add(*calls(7, "ap-south-1"))  # a region not asked for is not read
    found = reader(FakeClock()).lookup(ROLE_ARN, "alice", *WINDOW, ("eu-west-1", "us-east-1"))
    assert len(found.events) == 123 and not found.truncated
    assert found.regions == ("eu-west-1", "us-east-1")
    assert found.by_region == {"eu-west-1": 1, "us-east-1": 3} and found.calls == 4
    asked = standin.requests
    assert [r["region"] for r in asked] == ["eu-west-1", "us-east-1", "us-east-1", "us-east-1"]
    for request in asked:
        body = request["body"]
        assert body["LookupAttributes"] == [{"AttributeKey": "Username", "AttributeValue": "alice"}]
        assert body["MaxResults"] == 50
        assert body["StartTime"] == WINDOW[0].timestamp()
        assert body["EndTime"] == WINDOW[1].timestamp()
    assert ["NextToken" in r["body"] for r in asked] == [False, False, True, True]


def test_a_throttled_page_is_retried_with_backoff(standin: CloudTrailStandIn) -> None:
    standin.add(*calls(60))
    standin.throttle(2)
    clock = FakeClock()
    found = reader(clock).lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1",))
    assert len(found.events) == 60
    assert found.throttled == 2 and found.calls == 4  # 2 throttled + 2 pages
    backoffs = [s for s in clock.slept if s >= 1.0]
    assert backoffs[:2] == [1.0, 2.0]  # doubled each time (jitter pinned to its top)


def test_throttling_that_never_ends_becomes_aws_unavailable(standin: CloudTrailStandIn) -> None:
    standin.add(*calls(3))
    standin.throttle(10)
    with pytest.raises(AwsUnavailable, match="kept failing after 3 attempts"):
        reader(FakeClock(), attempts=3).lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1",))
    assert len(standin.requests) == 3


def test_a_server_error_is_retried_and_a_refusal_is_not(standin: CloudTrailStandIn) -> None:
    standin.add(*calls(3))
    standin.fail("InternalFailure", 1, status=500)
    assert len(reader(FakeClock()).lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1",)).events) == 3
    standin.fail("AccessDeniedException", 1)
    with pytest.raises(AwsRefused, match="cloudtrail:LookupEvents"):
        reader(FakeClock()).lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1",))
    standin.fail("InvalidTimeRangeException", 1)
    with pytest.raises(AwsUnavailable, match="InvalidTimeRange"):
        reader(FakeClock()).lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1",))


def test_the_cap_stops_reading_and_says_truncated(standin: CloudTrailStandIn) -> None:
    standin.add(*calls(130, "us-east-1"), *calls(5, "eu-west-1"))
    found = reader(FakeClock(), cap=100).lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1",))
    assert len(found.events) == 100 and found.truncated and found.calls == 2
    found = reader(FakeClock(), cap=120).lookup(
        ROLE_ARN, "alice", *WINDOW, ("us-east-1", "eu-west-1")
    )
    assert len(found.events) == 120 and found.truncated
    assert found.regions == ("us-east-1",)  # the cap was reached before eu-west-1 was read
    exact = reader(FakeClock(), cap=135).lookup(
        ROLE_ARN, "alice", *WINDOW, ("us-east-1", "eu-west-1")
    )
    assert len(exact.events) == 135 and not exact.truncated


def test_two_requests_per_second_per_account_and_region(standin: CloudTrailStandIn) -> None:
    standin.add(*calls(500, "us-east-1"), *calls(120, "eu-west-1"))
    clock = FakeClock()
    shared = RateLimiter(clock=clock, sleep=clock.sleep)
    ours = CloudTrailReader(CloudTrailClients({}), "eu-west-1", limiter=shared, sleep=clock.sleep)
    started = clock.now
    found = ours.lookup(ROLE_ARN, "alice", *WINDOW, ("us-east-1", "eu-west-1"))
    assert found.by_region == {"us-east-1": 10, "eu-west-1": 3}
    account = "123456789012"
    assert shared.busiest_second((account, "us-east-1")) == 2
    assert shared.busiest_second((account, "eu-west-1")) == 2
    # 10 requests in a region take at least 4.5 s; each region has its own allowance.
    assert clock.now - started == pytest.approx(9 * 0.5 + 2 * 0.5)
    # A second report right after waits its turn too: the limiter is shared.
    ours.lookup(ROLE_ARN, "alice", *WINDOW, ("eu-west-1",))
    assert shared.busiest_second() == 2


def test_produce_report_through_events_recorded_over_http(standin: CloudTrailStandIn) -> None:
    posted = [
        record(ALICE, "ec2", "RunInstances", START + timedelta(minutes=2), "eu-west-1"),
        record(ALICE, "iam", "CreateUser", START + timedelta(minutes=3), error_code="AccessDenied"),
        record(session_arn(ROLE_ARN, "bob"), "ec2", "RunInstances", START, "eu-west-1"),
    ]
    request = urllib.request.Request(
        f"{standin.url}/events",
        data=json.dumps({"events": posted}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == {"recorded": 3}
    report = activity.produce_report(grant(), role(), reader(FakeClock()), END + timedelta(hours=1))
    assert report.regions_read == ("eu-west-1", "us-east-1")
    assert [w.action for w in report.writes] == ["ec2:RunInstances"]
    assert [d.action for d in report.denied] == ["iam:CreateUser"]
    assert report.total == 2  # bob's call has another session name: the lookup never returns it


def test_the_endpoint_variable_is_honoured_by_the_projects_clients(
    standin: CloudTrailStandIn,
) -> None:
    made = aws_clients.client("cloudtrail", total_attempts=1, region_name="us-east-1")
    assert made.meta.endpoint_url == standin.url
    assert made.meta.config.retries["total_max_attempts"] == 1
    assert aws_clients.client("iam").meta.endpoint_url == "http://127.0.0.1:9"


def test_another_accounts_role_is_read_there_with_its_manager_role(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from chalicelib.aws import clients

    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    boto3.client("iam").create_role(
        RoleName="switchback-manager", AssumeRolePolicyDocument=json.dumps(trust)
    )
    seen: list[tuple[str, str | None]] = []
    with CloudTrailStandIn() as standin:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", standin.url)
        clients.forget()
        clients.observe(lambda action, params, assumed: seen.append((action, assumed)))
        standin.add(*calls(2, "us-east-1", identity=session_arn(SPOKE_ROLE, "alice")))
        ours = reader(FakeClock())
        ours._clients = CloudTrailClients({SPOKE_ROLE: MANAGER})
        found = ours.lookup(SPOKE_ROLE, "alice", *WINDOW, ("us-east-1", "eu-west-1"))
        assert len(found.events) == 2
        keys = {r["access_key"] for r in standin.requests}
        assert len(keys) == 1 and keys != {"testing"}  # signed with the manager's credentials
        ours.lookup(SPOKE_ROLE, "alice", *WINDOW, ("us-east-1",))  # credentials kept
        clients.forget()
    assert seen.count(("sts:AssumeRole", None)) == 1
    assert seen.count(("cloudtrail:LookupEvents", MANAGER)) == 3


def test_manager_credentials_serve_every_region_and_are_renewed_before_they_end() -> None:
    from datetime import UTC, datetime

    now = [0.0]
    assumed: list[str] = []

    class FakeSts:
        def assume_role(self, **arguments):
            assumed.append(arguments["RoleArn"])
            return {
                "Credentials": {
                    "AccessKeyId": f"ASIA{len(assumed)}",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": datetime.fromtimestamp(now[0] + 3600, UTC),
                }
            }

    def make_client(service: str, **options):
        if service == "sts":
            return FakeSts()
        return (options["region_name"], options["aws_access_key_id"])

    clients = CloudTrailClients({SPOKE_ROLE: MANAGER}, make_client, clock=lambda: now[0])
    assert clients(SPOKE_ROLE, "us-east-1") == ("us-east-1", "ASIA1")
    assert clients(SPOKE_ROLE, "eu-west-1") == ("eu-west-1", "ASIA1")
    now[0] = 3600 - 301  # not yet within the refresh margin
    assert clients(SPOKE_ROLE, "us-east-1") == ("us-east-1", "ASIA1")
    now[0] = 3600 - 299
    assert clients(SPOKE_ROLE, "eu-west-1") == ("eu-west-1", "ASIA2")
    assert clients(SPOKE_ROLE, "us-east-1") == ("us-east-1", "ASIA2")
    assert assumed == [MANAGER, MANAGER]


def test_the_wired_reader_takes_the_deployments_region(standin: CloudTrailStandIn) -> None:
    from chalicelib.aws import cloudtrail

    built = cloudtrail.reader({})
    assert built.home_region == "eu-west-1" and built.limiter is cloudtrail._limiter
    assert activity_schedule.regions_for(role(), built.home_region) == ("eu-west-1", "us-east-1")
    assert cloudtrail.reader({}, "ap-south-1").home_region == "ap-south-1"
