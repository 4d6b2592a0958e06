"""The pages around signing in: who you are, the local sign-in, someone not in the directory."""

from __future__ import annotations

from html import escape

from chalicelib.core.catalog import Person
from chalicelib.web.layout import (  # noqa: F401 (re-exported)
    _STYLE_HASH,
    CONTENT_SECURITY_POLICY,
    HEADERS,
    STYLE,
    duration_words,
    layout,
    message_page,
    relative,
    utc,
    when,
)


def not_in_directory_page(slack_id: str) -> str:
    """For someone signed in to Slack who is not in people.toml: why there is nothing here."""
    return message_page(
        "Not in Switchback's directory",
        f"You are signed in with Slack as {slack_id}, but Switchback's directory "
        "(people.toml) does not list you, so it shows you no requests. If you approve or "
        "request access, ask the platform team to add your Slack ID and IAM user.",
    )


def signed_in_page(name: str, slack_id: str, csrf: str, sign_out_url: str) -> str:
    body = (
        f"<h1>Signed in</h1><p>You are signed in as {escape(name)} "
        f"(<code>{escape(slack_id)}</code>). Open a request's Review link from Slack to see "
        "it and decide.</p>"
        f"<form method=post action='{escape(sign_out_url)}'>"
        f"<input type=hidden name=csrf value='{escape(csrf)}'>"
        f"<button type=submit>Sign out</button></form>"
    )
    return layout("Signed in", body)


def dev_sign_in_page(people: list[Person], next_path: str) -> str:
    options = "".join(
        f"<option value='{escape(p.slack_id)}'>{escape(p.name)} ({escape(p.slack_id)})</option>"
        for p in people
    )
    body = (
        "<h1>Local sign-in</h1><p class=note>Local mode only: pick who you are. Deployed "
        "stages use Sign in with Slack and answer 404 here.</p>"
        f"<form method=post><input type=hidden name=next value='{escape(next_path)}'>"
        f"<label>Person <select name=user>{options}</select></label> "
        f"<button type=submit>Sign in</button></form>"
    )
    return layout("Sign in", body)
