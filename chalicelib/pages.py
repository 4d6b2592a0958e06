"""Server-rendered HTML pages: no JavaScript, no external assets, every user string escaped."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from html import escape

from .durations import format_duration
from .model import AccessRequest, State, iso
from .policies import Person, RoleSpec

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
color:#1d1c1d}
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}pre{background:#f4f4f4;padding:.8rem;overflow:auto}
.state{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#eee;font-weight:600}
.PENDING{background:#fff3c4}.ACTIVE,.APPROVED{background:#c9f2d0}
.DENIED,.FAILED,.REVOKED{background:#fbd3d3}
.note{background:#eef4ff;padding:.6rem .8rem;border-radius:.3rem}
form{display:inline-block;margin:.5rem 1rem .5rem 0}
button{font-size:1rem;padding:.4rem 1.2rem;cursor:pointer}
.approve{background:#007a5a;color:#fff;border:0;border-radius:.3rem}
.deny{background:#e01e5a;color:#fff;border:0;border-radius:.3rem}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# Nothing may load from anywhere; only our own inline stylesheet (by hash) and our own forms.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def layout(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)} · Switchback</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def message_page(title: str, text: str) -> str:
    return layout(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>")


STATE_WORDS = {
    State.PENDING: "Waiting for approval",
    State.APPROVED: "Approved, being granted",
    State.ACTIVE: "Granted",
    State.EXPIRED: "Expired: the access window ended",
    State.REVOKED: "Revoked before its end",
    State.DENIED: "Denied",
    State.CANCELLED: "Cancelled by the requester",
    State.LAPSED: "Lapsed: nobody decided in time",
    State.FAILED: "Failed: the grant could not be written",
}


def review_page(
    request: AccessRequest,
    role: RoleSpec | None,
    viewer: str | None,
    can_act: bool,
    why_not: str,
    csrf: str,
    statement: dict,
    now: datetime,
    sign_in_url: str,
) -> str:
    end = request.ends_at or iso(now + request.duration) + " (if approved now)"
    description = escape(role.description) if role else "(role no longer in the policies)"
    facts = (
        f"<dt>Requester</dt><dd>{escape(request.requester_name)} "
        f"<code>{escape(request.principal_arn)}</code></dd>"
        f"<dt>Role</dt><dd><code>{escape(request.role)}</code> — {description}<br>"
        f"<code>{escape(request.role_arn)}</code></dd>"
        f"<dt>Duration</dt><dd>{format_duration(request.duration)}</dd>"
        f"<dt>Ends</dt><dd>{escape(end)}</dd>"
        f"<dt>Reason</dt><dd>{escape(request.reason)}</dd>"
        f"<dt>Approvals</dt><dd>{len(request.approvals)} of {request.approvals_required}</dd>"
        f"<dt>State</dt><dd><span class='state {request.state.value}'>"
        f"{escape(STATE_WORDS[request.state])}</span>"
        + (f" — {escape(request.failure)}" if request.failure else "")
        + "</dd>"
    )
    if can_act:
        actions = (
            f"<form method=post action='{escape(request.id)}/approve'>"
            f"<input type=hidden name=csrf value='{escape(csrf)}'>"
            f"<button class=approve type=submit>Approve</button></form>"
            f"<form method=post action='{escape(request.id)}/deny'>"
            f"<input type=hidden name=csrf value='{escape(csrf)}'>"
            f"<label>Reason for denying (optional) <input name=reason maxlength=500></label> "
            f"<button class=deny type=submit>Deny</button></form>"
        )
    elif viewer is None:
        actions = (
            f"<p class=note>Sign in to decide: <a href='{escape(sign_in_url)}'>sign in</a></p>"
        )
    else:
        actions = f"<p class=note>{escape(why_not)}</p>"
    audit = "".join(
        f"<tr><td>{escape(e.at)}</td><td>{escape(e.actor)}</td><td>{escape(e.action)}</td>"
        f"<td>{escape(e.detail)}</td></tr>"
        for e in request.audit
    )
    body = (
        f"<h1>Access request <code>{escape(request.id)}</code></h1><dl>{facts}</dl>"
        f"<section id=actions>{actions}</section>"
        f"<h2>Trust statement this grant writes</h2>"
        f"<pre id=statement>{escape(json.dumps(statement, indent=2))}</pre>"
        f"<h2>Audit trail</h2><table><tr><th>When (UTC)</th><th>Who</th><th>What</th>"
        f"<th>Detail</th></tr>{audit}</table>"
        + (f"<p>Signed in as <code>{escape(viewer)}</code>.</p>" if viewer else "")
    )
    return layout(f"Request {request.id}", body)


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
