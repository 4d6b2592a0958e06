"""Concurrent clicks on the real local stack: threads POST approvals over HTTP at the same time.

Whatever the interleaving, a request is granted once, counts each approver once, and every
answer the approvers got matches what was stored.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import boto3
import pytest

from tests.conftest import running_stack
from tests.support.trust_view import OUR_SID
from tools.slash import send

pytestmark = pytest.mark.e2e
SECRET = "race-signing-secret"
APPROVERS = [f"U0AP{n:02d}" for n in range(1, 21)]


def write_policies(folder: Path) -> None:
    people = ['[people.U0REQ]\nname = "requester"\naws = "arn:aws:iam::123456789012:user/req"']
    people += [
        f'[people.{a}]\nname = "approver{a[-2:]}"\n'
        f'aws = "arn:aws:iam::123456789012:user/approver{a[-2:]}"'
        for a in APPROVERS
    ]
    (folder / "roles").mkdir()
    (folder / "people.toml").write_text("\n".join(people) + "\n")
    listed = json.dumps(APPROVERS)
    for name, aws_role, quorum in (("wide", "WIDE", 3), ("pair", "PAIR", 2), ("one", "ONE", 1)):
        (folder / "roles" / f"{name}.toml").write_text(
            f'role_arn = "arn:aws:iam::123456789012:role/{aws_role}"\nmax_duration = "1h"\n'
            f'requesters = ["U0REQ"]\napprovers = {listed}\napprovals_required = {quorum}\n'
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("race-policies")
    write_policies(folder)
    with running_stack(
        folder,
        SECRET,
        SWITCHBACK_POLICIES=str(folder),
        SWITCHBACK_SWEEP_SECONDS="1",  # the sweep races the approvers for the grant, too
    ) as running:
        yield running


def call(api: str, method: str, path: str, form: dict | None = None, cookie: str = ""):
    """One request, redirects not followed: (status, headers, body)."""
    address = urlsplit(api)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read().decode()
    finally:
        connection.close()


class Approver:
    """Someone signed in through /auth/dev, holding the session cookie and its CSRF token."""

    def __init__(self, api: str, user: str, request_id: str):
        self.user = user
        status, headers, _ = call(api, "POST", "/auth/dev", {"user": user})
        assert status == 303
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]
        _, _, page = call(api, "GET", f"/requests/{request_id}", cookie=self.cookie)
        self.csrf = re.search(r"name=csrf value='([^']+)'", page).group(1)


def request_access(stack, role: str) -> str:
    status, answer = send(stack.api, SECRET, "U0REQ", f"request {role} 30m INC-1 race", "")
    assert status == 200, answer
    return re.search(r"Request `([0-9A-Z]{10})`", answer["text"]).group(1)


def all_at_once(stack, request_id: str, approvers: list[Approver]) -> list[tuple[str, int]]:
    """Every approver POSTs approve at the same moment; returns (user, status) per POST."""
    start = threading.Barrier(len(approvers))
    results: list[tuple[str, int]] = []

    def click(approver: Approver) -> None:
        start.wait()
        status, _, _ = call(
            stack.api,
            "POST",
            f"/requests/{request_id}/approve",
            {"csrf": approver.csrf},
            approver.cookie,
        )
        results.append((approver.user, status))

    threads = [threading.Thread(target=click, args=(a,)) for a in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == len(approvers)
    return results


def stored(stack, request_id: str) -> dict:
    from chalicelib.aws.store import Store

    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.aws_url(),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return Store(client, "switchback").get_request(request_id)


def grant_statements(stack, role: str) -> list[str]:
    iam = boto3.client(
        "iam",
        endpoint_url=stack.aws_url(),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    policy = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return [s["Sid"] for s in policy["Statement"] if s["Sid"].startswith("Switchback")]


def test_twenty_distinct_approvers_at_once_grant_exactly_once(stack) -> None:
    request_id = request_access(stack, "wide")
    approvers = [Approver(stack.api, user, request_id) for user in APPROVERS]

    results = all_at_once(stack, request_id, approvers)

    request = stored(stack, request_id)
    counted = {user for user, status in results if status == 303}
    assert Counter(status for _, status in results) == {303: 3, 409: 17}, results
    assert request.state.value == "ACTIVE"
    assert len(request.approvals) == 3 and set(request.approvals) == counted
    actions = Counter(entry.action for entry in request.audit)
    assert actions == {"requested": 1, "approval recorded": 2, "approved": 1, "granted": 1}
    assert grant_statements(stack, "WIDE") == [OUR_SID]
    # one "granted" for the approvers and one for the requester, however many clicked
    approvers_told = f"`{request_id}` (requester, `wide`) granted"
    stack.slack.wait_for(lambda p: approvers_told in p.get("text", ""))
    assert sum(approvers_told in t for t in stack.slack.texts()) == 1
    assert sum("access to `wide` is granted" in t for t in stack.slack.texts()) == 1


def test_one_approver_clicking_ten_times_at_once_counts_once(stack) -> None:
    request_id = request_access(stack, "pair")
    twice = [Approver(stack.api, "U0AP07", request_id) for _ in range(10)]

    results = all_at_once(stack, request_id, twice)

    assert Counter(status for _, status in results) == {303: 1, 409: 9}, results
    request = stored(stack, request_id)
    assert request.state.value == "PENDING" and request.approvals == ("U0AP07",)
    assert grant_statements(stack, "PAIR") == []
    second = Approver(stack.api, "U0AP08", request_id)
    assert all_at_once(stack, request_id, [second]) == [("U0AP08", 303)]
    assert stored(stack, request_id).approvals == ("U0AP07", "U0AP08")
    assert grant_statements(stack, "PAIR") == [OUR_SID]


def test_the_same_approver_twice_on_a_single_approval_role_grants_once(stack) -> None:
    request_id = request_access(stack, "one")
    same = [Approver(stack.api, "U0AP01", request_id) for _ in range(2)]

    results = all_at_once(stack, request_id, same)

    assert sorted(status for _, status in results) == [303, 409]
    request = stored(stack, request_id)
    assert request.state.value == "ACTIVE" and request.approvals == ("U0AP01",)
    assert grant_statements(stack, "ONE") == [OUR_SID]


def test_concurrent_pages_each_see_their_own_session(stack) -> None:
    """The local server answers in threads: no request may see another's cookie."""
    request_id = request_access(stack, "one")
    people = [Approver(stack.api, user, request_id) for user in APPROVERS[:10]]
    seen: dict[str, str] = {}
    start = threading.Barrier(len(people))

    def look(person: Approver) -> None:
        start.wait()
        for _ in range(5):
            _, _, page = call(stack.api, "GET", f"/requests/{request_id}", cookie=person.cookie)
            who = re.search(r"\(<code>(U0AP\d\d)</code>\)", page).group(1)
            if who != person.user:
                seen[person.user] = who

    threads = [threading.Thread(target=look, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen == {}
