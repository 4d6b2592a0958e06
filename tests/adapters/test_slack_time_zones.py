"""A person's Slack time zone (users.info) through the local Slack stand-in: asked once and
kept, None (read as UTC) when Slack does not say or cannot be reached."""

from __future__ import annotations

from chalicelib.delivery.slack_time_zones import SlackTimeZones

BOT_TOKEN = "xoxb-test"


def test_the_time_zone_comes_from_users_info_and_is_kept(slack) -> None:
    slack.time_zones = {"U0ALICE": "Europe/Berlin"}
    zones = SlackTimeZones(BOT_TOKEN, f"{slack.url}/api/")
    assert zones("U0ALICE") == "Europe/Berlin"
    assert zones("U0ALICE") == "Europe/Berlin"
    assert slack.user_lookups == ["U0ALICE"]


def test_an_unknown_person_or_a_dead_slack_answers_none(slack) -> None:
    zones = SlackTimeZones(BOT_TOKEN, f"{slack.url}/api/")
    assert zones("U0NOBODY") is None
    dead = SlackTimeZones(BOT_TOKEN, "http://127.0.0.1:9/api/", timeout=0.5)
    assert dead("U0ALICE") is None
