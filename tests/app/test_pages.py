"""The review page as pure HTML: what it shows in each state, what it offers whom, escaping."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.decisions import approve, deny
from chalicelib.core.model import State, iso, transition
from chalicelib.core.trust import Grant, statement_for
from chalicelib.web import pages
from tests.unit.test_decisions import NOW, role
from tests.unit.test_decisions import request as make_request

NAMES = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "switchback": "Switchback"}
SIGN_OUT = "http://switchback.test/auth/signout"


def statement(request) -> dict:
    ends = request.ends() or request.end_if_approved_at(NOW)
    return statement_for(
        Grant.of(request, ends),
        "D0000000",
    )


def render(request=None, viewer=None, now=NOW, spec=None) -> str:
    request = request or make_request()
    viewer = viewer or pages.Viewer("U0BOB", "bob", "csrf-token-1", can_decide=True)
    documents = [("Trust policy statement", statement(request))]
    return pages.review_page(request, spec or role(), viewer, documents, now, NAMES, SIGN_OUT)


class Parsed(HTMLParser):
    """Tags, attributes and text of a page, to check structure rather than substrings."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        self.text.append(data)

    def forms(self) -> list[str]:
        return [a["action"] for t, a in self.tags if t == "form"]


def test_pending_page_shows_everything_an_approver_needs() -> None:
    request = make_request(require_mfa=True)
    html = render(request)
    text = "".join(Parsed(html).text)
    assert "alice" in text and "arn:aws:iam::123456789012:user/alice" in text
    assert "ec2-admin" in text and "Full EC2 access" in text
    assert "arn:aws:iam::123456789012:role/AWSEC2FULLACCESS" in text
    assert "1h" in text and "INC-42 resize the ASG" in text
    assert "2026-11-28 11:00:00 UTC if approved now (1 hour after the approval)" in text
    assert iso(NOW + timedelta(hours=1)) == "2026-11-28T11:00:00Z"
    assert "0 of 1 (none yet)" in text
    assert "Waiting for approval" in text
    assert f"lapses at {pages.when(request.approval_deadline, NOW)}" in text
    assert "Trust statement this grant will write" in text
    # for a 3 a.m. approver: who wants what, for how long and why, first
    assert re.search(r"<h1 id=headline><bdi>(.*?)</bdi></h1>", html).group(1) == (
        "alice asks for ec2-admin for 1 hour — INC-42 resize the ASG"
    )
    does = re.search(r"<p class=does id=does>(.*?)</p>", html).group(1)
    assert does.startswith(
        "Approving lets alice (IAM user alice) switch to the role AWSEC2FULLACCESS in account "
        "123456789012 until 2026-11-28 11:00:00 UTC if approved now"
    )
    assert "every session alice started with it is cut off" in does
    assert re.search(r"<details id=documents><summary>", html)
    # the exact statement, pretty-printed, including the MFA condition
    shown = re.search(r"<pre id=statement tabindex=0>(.*?)</pre>", html, re.S).group(1)
    unescaped = shown.replace("&quot;", '"').replace("&amp;", "&")
    assert json.loads(unescaped) == statement(request)
    assert unescaped == json.dumps(statement(request), indent=2)
    assert '"aws:MultiFactorAuthPresent": "true"' in unescaped


def test_an_approver_gets_approve_and_deny_with_an_optional_reason() -> None:
    html = render()
    parsed = Parsed(html)
    assert parsed.forms() == ["7QK2M9TX4B/approve", "7QK2M9TX4B/deny", SIGN_OUT]
    tokens = [a["value"] for t, a in parsed.tags if t == "input" and a.get("name") == "csrf"]
    assert tokens == ["csrf-token-1"] * 3
    reason = [a for t, a in parsed.tags if t == "input" and a.get("name") == "reason"]
    assert reason and "required" not in reason[0]
    assert all(a.get("method") == "post" for t, a in parsed.tags if t == "form")


def test_someone_who_may_not_act_sees_why_and_no_buttons() -> None:
    viewer = pages.Viewer("U0ALICE", "alice", "t", why_not="You cannot approve your own request.")
    html = render(viewer=viewer)
    assert Parsed(html).forms() == [SIGN_OUT]
    assert "<p class=note id=why-not>You cannot approve your own request.</p>" in html


def test_revoke_button_for_an_active_grant() -> None:
    active = replace(
        approve(make_request(), "U0BOB", NOW), state=State.ACTIVE, approvals=("U0BOB",)
    )
    viewer = pages.Viewer("U0ALICE", "alice", "tok", can_revoke=True)
    html = render(active, viewer)
    assert Parsed(html).forms() == ["7QK2M9TX4B/revoke", SIGN_OUT]
    assert "Revoke now" in html and "Approve" not in html
    assert pages.when(active.ends_at, NOW) in html and "1 of 1 (bob)" in html
    assert "(in 1 h)" in html


@pytest.mark.parametrize(
    "state, says, heading",
    [
        (State.APPROVED, "the trust statement is being written", "will write"),
        (State.ACTIVE, "switch to this role until 2026-11-28 11:00:00 UTC (in 40 min)", "written"),
        (State.EXPIRED, "ended at 2026-11-28 11:00:00 UTC", "removed when it expired"),
        (State.REVOKED, "Revoked by bob at 2026-11-28 10:20:00 UTC (now)", "removed when it was"),
        (State.DENIED, "Denied by carol at 2026-11-28 10:20:00 UTC", "never written"),
        (State.CANCELLED, "Cancelled by the requester at 2026-11-28 10:20:00 UTC", "never written"),
        (State.LAPSED, "nobody decided by 2026-11-28 11:00:00 UTC (in 40 min)", "never written"),
        (State.FAILED, "Failed: over quota. Nothing was granted.", "never written"),
    ],
)
def test_every_state_has_a_clear_sentence_and_heading(state, says, heading) -> None:
    actor = {State.DENIED: "U0CAROL", State.REVOKED: "U0BOB", State.CANCELLED: "U0ALICE"}
    request = make_request(
        state=state,
        ends_at="2026-11-28T11:00:00Z",
        failure="over quota" if state is State.FAILED else None,
    )
    entry_at = NOW + timedelta(minutes=20)
    request = replace(
        request,
        audit=(
            transition(make_request(), State.PENDING, "U0ALICE", "requested", NOW).audit[0],
            replace(
                transition(
                    make_request(), State.PENDING, actor.get(state, "switchback"), "x", entry_at
                ).audit[0],
                state=state,
            ),
        ),
    )
    viewer = pages.Viewer("U0BOB", "bob", "t", why_not=f"This request is already {state}.")
    html = render(request, viewer, now=entry_at)
    summary = re.search(r"id=summary>(.*?)</p>", html).group(1)
    assert says in summary
    assert heading in re.findall(r"<summary>(.*?)</summary>", html)[0]
    assert "/approve'" not in html and "/deny'" not in html
    if state in (State.DENIED, State.CANCELLED, State.LAPSED, State.FAILED):
        assert "never granted" in html


def test_denied_page_shows_the_reason_escaped() -> None:
    denied = deny(make_request(), "U0CAROL", NOW, "<i>use</i> the runbook")
    html = render(denied, pages.Viewer("U0BOB", "bob", "t", why_not="already denied"))
    assert "Reason: &lt;i&gt;use&lt;/i&gt; the runbook" in html and "<i>" not in html


def test_past_the_deadline_a_pending_request_shows_as_lapsed() -> None:
    late = NOW + timedelta(hours=1)
    html = render(now=late, viewer=pages.Viewer("U0BOB", "bob", "t", why_not="lapsed"))
    assert "Lapsed: nobody decided in time" in html
    assert "The requester can ask again" in html


def test_approvals_so_far_and_audit_use_names() -> None:
    first = approve(make_request(approvals_required=2), "U0BOB", NOW)
    html = render(first, pages.Viewer("U0CAROL", "carol", "t", can_decide=True))
    assert "1 of 2 (bob)" in html
    assert "Waiting for 1 more approval (1 of 2 so far)" in html
    assert "<td>bob</td><td>approval recorded</td><td>1 of 2</td>" in html


def test_signed_out_page_shows_state_and_sign_in_but_no_details() -> None:
    request = make_request(reason="INC-42 secret plan")
    html = pages.signed_out_page(request, NOW, "http://x/auth/slack?next=%2Frequests%2F7QK2M9TX4B")
    assert ">sign in</a>" in html and "Waiting for approval" in html
    assert "secret plan" not in html and "alice" not in html and "arn:" not in html
    assert Parsed(html).forms() == []


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=150, deadline=None)
@given(reason=TEXT, name=TEXT, description=TEXT, detail=TEXT, why=TEXT)
def test_no_user_text_can_open_a_tag_or_an_attribute(reason, name, description, detail, why):
    request = deny(
        make_request(reason=reason, requester_name=name, approvals_required=2),
        "U0CAROL",
        NOW,
        detail,
    )
    html = render(
        request,
        pages.Viewer("U0BOB", name, "tok", why_not=why),
        spec=role(description=description),
    )
    for tag, attrs in Parsed(html).tags:
        assert tag in {
            "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "span", "dl",
            "dt", "dd", "br", "code", "section", "pre", "table", "tr", "th", "td", "footer",
            "form", "input", "button", "main", "bdi", "details", "summary", "h3",
        }, tag  # fmt: skip
        assert not any(a.startswith("on") for a in attrs), attrs


def test_no_external_assets_and_the_csp_matches_the_inline_style() -> None:
    html = render()
    parsed = Parsed(html)
    assert not [t for t, _ in parsed.tags if t in {"script", "img", "link", "iframe", "object"}]
    assert not [a for _, a in parsed.tags if "src" in a or "style" in a]
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    csp = pages.CONTENT_SECURITY_POLICY
    assert f"style-src 'sha256-{digest}'" in csp
    for rule in ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"):
        assert rule in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all


def test_the_activity_report_is_shown_escaped() -> None:
    from chalicelib.core.activity_model import ActionCount, ActivityReport

    request = make_request()
    report = ActivityReport(
        request.id,
        "alice",
        "alice",
        request.role,
        request.role_arn,
        "2026-11-28T10:00:00Z",
        "2026-11-28T11:00:00Z",
        ("us-east-1",),
        total=3,
        writes=(ActionCount("ec2:RunInstances", 2, ("<script>alert(1)</script>",)),),
    )
    viewer = pages.Viewer("U0BOB", "bob", "csrf-token-1", can_decide=True)
    page = pages.review_page(request, role(), viewer, [], NOW, NAMES, SIGN_OUT, activity=report)
    parsed = Parsed(page)
    assert "script" not in [t for t, _ in parsed.tags]
    assert "ec2:RunInstances" in page and "&lt;script&gt;" in page
    assert ("pre", {"id": "activity", "class": "activity"}) in parsed.tags
    assert "id=activity" not in render()  # none yet: no section
