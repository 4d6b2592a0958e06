"""Every `/access` command through the app (chalice.test.Client), with AWS on a real moto server
and Slack as a local receiver over HTTP: what each answers, what it changes, who hears what."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.core.commands import RequestCommand
from chalicelib.core.model import State, new_request_id
from tests.conftest import BASE_URL
from tests.support.slack_team import Team, build_team, trust_sids


@pytest.fixture
def team(app_env, slack, client, tmp_path, monkeypatch) -> Team:
    return build_team(client, slack, tmp_path / "policies", monkeypatch)


def section_texts(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer["blocks"] if b["type"] == "section")


# -- request -----------------------------------------------------------------------------------
def test_request_without_duration_takes_the_roles_default(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin INC-1 look at the ASG")
    request = team.stored(request_id)
    assert request.duration == timedelta(hours=1) and request.reason == "INC-1 look at the ASG"
    [message] = team.slack.delivered("/webhook/approvers")
    assert "*Duration:* 1h" in message["blocks"][0]["text"]["text"]


def test_reason_is_required(team: Team) -> None:
    answer = team.slash("U0ALICE", "request ec2-admin 30m")
    assert "Say why you need it" in answer["text"]
    assert team.service.store.requests_of("U0ALICE") == []


def test_reason_must_match_the_roles_pattern(team: Team) -> None:
    answer = team.slash("U0ALICE", "request db-admin 30m fix the index")
    assert "db-admin needs a reason matching `INC-\\d+`" in answer["text"]
    assert team.service.store.requests_of("U0ALICE") == []
    request_id = team.request("U0ALICE", "db-admin 30m INC-7 fix the index")
    assert team.stored(request_id).state is State.PENDING
    # the role's own approvers' channel, not the default one
    assert [m["text"] for m in team.slack.delivered("/webhook/db")] == [
        "alice requests db-admin for 30m"
    ]
    assert team.slack.delivered("/webhook/approvers") == []


def test_unknown_role_lists_what_may_be_requested_with_the_nearest_name(team: Team) -> None:
    answer = team.slash("U0ALICE", "request db-admn 30m INC-1 x")
    assert "There is no role `db-admn`. Did you mean `db-admin`?" in answer["text"]
    assert (
        "Roles you may request: `db-admin`, `ec2-admin` (details: `/access roles`)"
        in (answer["text"])
    )
    far = team.slash("U0ALICE", "request zzz 30m INC-1 x")["text"]
    assert "There is no role `zzz`." in far and "Did you mean" not in far


def test_a_role_one_may_not_request_is_refused_with_the_list(team: Team) -> None:
    answer = team.slash("U0ALICE", "request billing 30m audit")
    assert "You may not request billing." in answer["text"]
    assert "Roles you may request: `db-admin`, `ec2-admin`" in answer["text"]
    assert team.service.store.requests_of("U0ALICE") == []


def test_slacks_entities_are_undone_so_the_reason_is_what_was_typed(team: Team) -> None:
    # Slack sends &, < and > as entities in a command's text
    request_id = team.request("U0ALICE", "ec2-admin 30m a &lt;b&gt; &amp;lt; c")
    assert team.stored(request_id).reason == "a <b> &lt; c"
    [message] = team.slack.delivered("/webhook/approvers")
    assert "*Reason:* “a &lt;b&gt; &amp;lt; c”" in message["blocks"][0]["text"]["text"]


HOSTILE = "<!channel> <!here> @here <@U0BOB> <#C0SECRET> <https://evil.example|click me> &"


def test_hostile_reason_cannot_ping_or_link_anywhere(team: Team) -> None:
    request_id = team.request("U0ALICE", f"ec2-admin 30m INC-1 {HOSTILE}")
    assert team.stored(request_id).reason == f"INC-1 {HOSTILE}"
    team.service.deny(request_id, "U0BOB", f"no: {HOSTILE}")
    bob = team.slash("U0BOB", "list")
    shown = [p for e in team.slack.received for p in [e["payload"]]] + [bob]
    for payload in shown:
        for block in payload.get("blocks", []):
            if block["type"] != "section":
                continue
            text = block["text"]
            assert text["verbatim"] is True  # no auto-linking of @here, #channel or URLs
            for raw in ("<!channel>", "<!here>", "<#C0SECRET>", "<https://evil", " & "):
                assert raw not in text["text"]
            assert "<@U0BOB>" not in text["text"].replace("by <@U0BOB>", "")
    new = team.slack.delivered("/webhook/approvers")[0]["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &lt;!here&gt; @here &lt;@U0BOB&gt;" in new


def test_a_reason_of_1000_characters_is_kept_whole_and_a_longer_one_refused(team: Team) -> None:
    reason = "INC-1 " + "why " * 248 + "end!"
    assert len(reason) == 1002
    answer = team.slash("U0ALICE", f"request ec2-admin 30m {reason}")["text"]
    assert answer.startswith("Your reason is 1,002 characters; keep it within 1,000")
    assert "Switchback* gives you" not in answer  # one line, not the whole help
    assert team.service.store.requests_of("U0ALICE") == [] and team.slack.received == []

    reason = reason[:-2]
    request_id = team.request("U0ALICE", f"ec2-admin 30m {reason}")
    assert team.stored(request_id).reason == reason  # the store keeps it whole
    [message] = team.slack.delivered("/webhook/approvers")  # Slack accepted it
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert reason[-20:] in message["blocks"][0]["text"]["text"]  # shown whole to approvers
    waiting = section_texts(team.slash("U0BOB", "list"))
    assert request_id in waiting and "why w…" in waiting  # 200 characters in `list`


# -- roles -------------------------------------------------------------------------------------
def count_iam_reads(team: Team) -> list[str]:
    calls: list[str] = []
    client = team.service.writer.iam._client_for("any")
    client.meta.events.register(
        "before-call.iam.*", lambda model, **_: calls.append(model.name), unique_id="count-reads"
    )
    return calls


def test_roles_shows_each_role_with_its_terms_and_free_grant_slots(team: Team) -> None:
    text = section_texts(team.slash("U0ALICE", "roles"))
    lines = text.splitlines()
    assert lines[0] == "*Roles you may request:*"
    db, ec2 = lines[1], lines[2]
    assert db.startswith("• `db-admin` — Database admin · default 30m, at most 2h")
    assert "2 approvals from <@U0BOB>, <@U0CAROL>" in db
    assert "reason must match `INC-\\d+`" in db
    assert ec2.startswith("• `ec2-admin` — Full EC2 access · default 1h, at most 4h")
    # 2,048 characters less one foreign statement: this many people with alice-sized ARNs fit
    # (they share statements; see docs/grants.md)
    assert "· 42 grant slots left" in ec2
    assert "billing" not in text  # alice may not request it
    assert "`billing`" in section_texts(team.slash("U0CAROL", "roles"))


def test_roles_reads_iam_once_a_minute_and_counts_grants(team: Team) -> None:
    calls = count_iam_reads(team)
    team.slash("U0ALICE", "roles")
    assert sorted(calls) == ["GetAccountSummary", "GetRole", "GetRole"]  # one per role
    team.slash("U0ALICE", "roles")
    team.slash("U0DAVE", "roles")
    assert len(calls) == 3  # cached: no IAM call on the ack path
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.service.approve(request_id, "U0BOB")
    calls.clear()
    slots = team.service._grant_slots
    slots._clock = lambda: 10**9  # a minute later
    text = section_texts(team.slash("U0ALICE", "roles"))
    assert calls == ["GetRole", "GetRole"]  # the quota is read once per account
    assert "· 41 grant slots left" in text


def test_roles_answers_even_when_iam_cannot_be_read(team: Team, monkeypatch) -> None:
    def broken(role_arn):
        raise RuntimeError("IAM is down")

    monkeypatch.setattr(team.service.writer.iam, "read", broken)
    text = section_texts(team.slash("U0ALICE", "roles"))
    assert text.count("grant slots left: unknown right now") == 2


def test_roles_for_someone_not_in_the_people_list(team: Team) -> None:
    text = team.slash("U0NOBODY", "roles")["text"]
    assert text.startswith("You are not in Switchback's directory (`people.toml`)")
    assert "Slack ID" in text


# -- list --------------------------------------------------------------------------------------
def test_list_shows_my_live_requests_and_those_waiting_for_me(team: Team) -> None:
    assert "none pending or active" in team.slash("U0ALICE", "list")["text"]
    ec2 = team.request("U0ALICE", "ec2-admin 30m INC-1 resize")
    db = team.request("U0ALICE", "db-admin 1h INC-2 index")
    team.clock.advance(minutes=5)
    mine = section_texts(team.slash("U0ALICE", "list"))
    assert f"• `{ec2}` `ec2-admin` pending for 30m (0 of 1 approval; 1 more needed, " in mine
    assert "lapses in 55m)" in mine
    assert f"• `{db}` `db-admin` pending for 1h (0 of 2 approvals; 2 more needed" in mine
    assert "Waiting for your approval" not in mine

    bob = section_texts(team.slash("U0BOB", "list"))
    assert "*Waiting for your approval:*" in bob
    assert f"• `{ec2}` alice → `ec2-admin` 30m (0 of 1 approval" in bob and "resize" in bob
    assert f"• `{db}` alice → `db-admin` 1h" in bob

    team.service.approve(ec2, "U0BOB")
    team.service.approve(db, "U0BOB")
    team.clock.advance(minutes=10)
    mine = section_texts(team.slash("U0ALICE", "list"))
    assert f"• `{ec2}` `ec2-admin` active, 20m left (until " in mine
    assert "(1 of 2 approvals; 1 more needed" in mine
    bob = section_texts(team.slash("U0BOB", "list"))
    assert "Waiting for your approval" not in bob  # bob approved both already
    carol = section_texts(team.slash("U0CAROL", "list"))
    assert db in carol and ec2 not in carol

    team.slash("U0ALICE", f"cancel {db}")
    team.slash("U0ALICE", f"revoke {ec2}")
    assert "none pending or active" in team.slash("U0ALICE", "list")["text"]


def test_list_does_not_offer_lapsed_requests(team: Team) -> None:
    team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.clock.advance(hours=1, seconds=1)  # past the deadline, before the sweep
    assert "Waiting for your approval" not in team.slash("U0BOB", "list")["text"]


def test_a_long_list_is_split_into_sections_within_slacks_limits(team: Team) -> None:
    # a person has one pending request per role: the other 29 go straight into the table, as
    # copies of the first with ids of their own
    first = team.service.submit(
        "U0ALICE", RequestCommand("ec2-admin", None, "INC-0 " + "long reason " * 20), None
    )
    for n in range(1, 30):
        reason = f"INC-{n} " + "long reason " * 20
        copy = replace(first, id=new_request_id(), reason=reason, version=0)
        team.service.store.create_request(copy)
    answer = team.slash("U0BOB", "list")
    sections = [b for b in answer["blocks"] if b["type"] == "section"]
    assert len(sections) > 1
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert section_texts(answer).count("alice → `ec2-admin`") == 30


# -- cancel ------------------------------------------------------------------------------------
def test_cancel_withdraws_a_pending_request_and_tells_the_approvers(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    answer = team.slash("U0ALICE", f"cancel {request_id.lower()}")
    assert f"Request `{request_id}` for `ec2-admin` is cancelled" in answer["text"]
    assert team.stored(request_id).state is State.CANCELLED
    follow_up = team.slack.texts("/webhook/approvers")[-1]
    assert follow_up == f"Request `{request_id}` (alice, `ec2-admin`) cancelled by <@U0ALICE>."


@pytest.mark.parametrize(
    ("who", "says"),
    [("U0BOB", "Only the requester can cancel a request."), ("U0DAVE", "Only the requester")],
)
def test_only_the_requester_cancels(team: Team, who: str, says: str) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    assert says in team.slash(who, f"cancel {request_id}")["text"]
    assert team.stored(request_id).state is State.PENDING


def test_cancel_of_a_granted_or_unknown_request_is_refused(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.service.approve(request_id, "U0BOB")
    answer = team.slash("U0ALICE", f"cancel {request_id}")
    assert "is active; only pending requests can be cancelled" in answer["text"]
    assert "There is no request 0000000000" in team.slash("U0ALICE", "cancel 0000000000")["text"]
    assert "is not a request id" in team.slash("U0ALICE", "cancel nope")["text"]


# -- revoke ------------------------------------------------------------------------------------
def test_the_requester_revokes_their_own_grant(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.service.approve(request_id, "U0BOB")
    assert len(trust_sids()) == 2  # EC2Service and the statement trusting alice
    answer = team.slash("U0ALICE", f"revoke {request_id}")
    assert answer["text"].startswith("Your access to `ec2-admin`")
    assert "trust is removed and every session of theirs is denied" in answer["text"]
    assert team.stored(request_id).state is State.REVOKED
    assert trust_sids() == ["EC2Service"]
    assert team.slack.texts("/webhook/approvers")[-1] == (
        f"Request `{request_id}` (alice, `ec2-admin`) revoked by <@U0ALICE>."
    )


def test_an_approver_of_the_role_revokes_and_the_requester_hears_who(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    team.service.approve(request_id, "U0BOB")
    answer = team.slash("U0CAROL", f"revoke {request_id}")
    assert answer["text"].startswith("alice's access to `ec2-admin`")
    assert team.stored(request_id).state is State.REVOKED
    told = team.slack.texts("/response/U0ALICE")[-1]
    assert told == f"Your request `{request_id}` for `ec2-admin` was revoked by <@U0CAROL>."


def test_others_cannot_revoke_and_only_active_grants_can_be_revoked(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    assert "not active" in team.slash("U0ALICE", f"revoke {request_id}")["text"]
    team.service.approve(request_id, "U0BOB")
    answer = team.slash("U0DAVE", f"revoke {request_id}")
    assert "Only the requester or an approver of ec2-admin can revoke it." in answer["text"]
    assert team.stored(request_id).state is State.ACTIVE
    assert len(trust_sids()) == 2  # alice's trust is still there


# -- help, nonsense, our own failures ----------------------------------------------------------
@pytest.mark.parametrize("text", ["", "help", "HELP", "   "])
def test_help_and_empty_text_answer_usage(team: Team, text: str) -> None:
    answer = team.slash("U0ALICE", text)
    for example in ("`/access request ec2-admin 1h INC-42", "`/access roles`", "`/access list`"):
        assert example in answer["text"]
    assert "`/access cancel <id>`" in answer["text"] and "`/access revoke <id>`" in answer["text"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("frobnicate", "I don't know `frobnicate`."),
        ("request", "Say which role"),
        ("cancel", "`cancel` takes one request id"),
        ("revoke a b", "`revoke` takes one request id"),
        ("<script>alert(1)</script>", "I don't know `&lt;script&gt;alert(1)&lt;/script&gt;`."),
    ],
)
def test_anything_else_answers_what_is_wrong_and_the_usage(team: Team, text, says) -> None:
    answer = team.slash("U0ALICE", text)
    assert says in answer["text"] and "`/access roles`" in answer["text"]
    assert team.service.store.requests_of("U0ALICE") == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("request ec2-admin 90 INC-42 x", "`90` is not a duration. Did you mean `90m`?"),
        ("request ec2-admin 1h30 INC-42 x", "`1h30` is not a duration. Did you mean `1h30m`?"),
        ("request ec2-admin 2hrs INC-42 x", "Did you mean `2h`?"),
        ("request ec2-admin 0m INC-42 x", "'0m' is zero; ask for at least 1m"),
        ("request ec2-admin 1m1h INC-42 x", "'1m1h' is not a duration"),
        ("request ec2-admin 0 INC-42 x", "`0` is not a duration; write it like"),
    ],
)
def test_a_wrong_duration_gets_one_line_and_creates_nothing(team: Team, text, says) -> None:
    answer = team.slash("U0ALICE", text)["text"]
    assert says in answer
    assert "\n" not in answer and "`/access roles`" not in answer  # one line, no help
    assert team.service.store.requests_of("U0ALICE") == [] and team.slack.received == []


def test_a_second_pending_request_points_to_the_first(team: Team) -> None:
    first = team.request("U0ALICE", "ec2-admin 30m INC-1 resize")
    answer = team.slash("U0ALICE", "request ec2-admin 1h INC-2 again")["text"]
    assert f"request `{first}` (30m) is waiting for approval" in answer
    assert f"<{team.service.base_url}/requests/{first}|review request {first}>" in answer
    assert [r.id for r in team.service.store.requests_of("U0ALICE")] == [first]
    # another role, or after the first is decided, is a new request
    team.request("U0ALICE", "db-admin 30m INC-3 index")
    team.service.deny(first, "U0BOB", "no")
    team.request("U0ALICE", "ec2-admin 30m INC-4 resize")
    assert len(team.service.store.requests_of("U0ALICE")) == 3


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_approve_and_deny_answer_with_the_review_link(team: Team, verb) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 resize")
    answer = team.slash("U0BOB", f"{verb} {request_id.lower()}")["text"]
    assert f"<{team.service.base_url}/requests/{request_id}|review request {request_id}>" in answer
    assert f"Open it to {verb} it." in answer
    assert team.stored(request_id).state is State.PENDING  # nothing decided from Slack
    assert "There is no request `0000000000`" in team.slash("U0BOB", f"{verb} 0000000000")["text"]


def test_the_command_name_is_the_one_slack_sent(team: Team, monkeypatch) -> None:
    from tests.conftest import signed_command

    body, headers = signed_command("U0ALICE", "help")
    body = body.replace(b"command=%2Faccess", b"command=%2Fjit")
    from chalicelib.entry.slack_signature import sign

    headers["X-Slack-Signature"] = sign(
        "test-signing-secret", headers["X-Slack-Request-Timestamp"], body
    )
    answer = team.client.http.post("/slack/commands", body=body, headers=headers)
    assert "`/jit request <role>" in answer.body.decode()


def test_our_own_failure_answers_an_apology_not_a_500(team: Team, monkeypatch, logs) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(team.service.store, "requests_of", broken)
    answer = team.slash("U0ALICE", "list")
    assert "Something went wrong on Switchback's side" in answer["text"]
    assert "RuntimeError: bug" in logs.text


def test_a_broken_deployment_answers_an_apology_not_a_500(team: Team, monkeypatch, logs) -> None:
    from chalicelib.policies import PolicyError

    def unreadable(directory):
        raise PolicyError([f"{directory}/people.toml: file missing"])

    monkeypatch.setattr(wiring, "load_catalog", unreadable)
    wiring.reset()
    answer = team.slash("U0ALICE", "roles")
    assert "Something went wrong on Switchback's side" in answer["text"]
    assert "people.toml: file missing" in logs.text


def test_review_links_point_at_the_request_page(team: Team) -> None:
    request_id = team.request("U0ALICE", "ec2-admin 30m INC-1 x")
    [message] = team.slack.delivered("/webhook/approvers")
    [button] = message["blocks"][1]["elements"]
    assert button["url"] == f"{BASE_URL}/requests/{request_id}"
    assert button["text"] == {"type": "plain_text", "text": "Review"}


# -- what a new user tripped over (issue 25) ---------------------------------------------------
def test_the_pending_answer_says_the_duration_used_default_included(team: Team) -> None:
    default = team.slash("U0ALICE", "request ec2-admin INC-1 look")["text"]
    assert "for 1h, the role's default" in default
    assert "`/access request ec2-admin 2h …`" in default
    asked = team.slash("U0ALICE", "request db-admin 90m INC-2 index")["text"]
    assert "for 1h30m is pending" in asked and "default" not in asked


def test_usage_lists_the_accepted_duration_forms(team: Team) -> None:
    text = team.slash("U0ALICE", "help")["text"]
    assert "`15m`, `2h`, `1h30m`, `90m`, `2 hours`, `90 minutes`" in text
    assert "at least 1m, at most the role's maximum" in text


def test_a_wrong_duration_or_reason_is_said_even_with_one_pending(team: Team) -> None:
    first = team.request("U0ALICE", "db-admin 30m INC-1 index")
    too_long = team.slash("U0ALICE", "request db-admin 3h INC-2 again")["text"]
    assert "2h" in too_long and "already asked" not in too_long
    no_ticket = team.slash("U0ALICE", "request db-admin 30m fix the index")["text"]
    assert "needs a reason matching" in no_ticket and "already asked" not in no_ticket
    right = team.slash("U0ALICE", "request db-admin 30m INC-3 again")["text"]
    assert f"request `{first}` (30m) is waiting for approval" in right


def test_a_requester_not_allowed_is_told_whom_to_ask_not_another_role(team: Team) -> None:
    answer = team.slash("U0CAROL", "request db-admin 30m INC-1 x")["text"]
    assert "You may not request db-admin. It is for alice, dave" in answer
    assert "ask its approvers (bob, carol)" in answer
    assert "Did you mean" not in answer
    assert team.service.store.requests_of("U0CAROL") == []
