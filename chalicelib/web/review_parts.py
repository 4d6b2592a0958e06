"""Parts of the review page that stand alone: the IAM documents a grant writes, and the facts
and words of scoped grants and scheduled windows (docs/grants.md)."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape

from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.activity_text import render_text
from chalicelib.core.model import AccessRequest, State, parse_iso
from chalicelib.notify.messages import scheduled_summary, scope_summary
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
from chalicelib.web.sign_in_pages import dev_sign_in_page, not_in_directory_page, signed_in_page  # noqa: F401 (re-exported)

STATEMENT_HEADINGS = {
    State.PENDING: "Trust statement this grant will write",
    State.APPROVED: "Trust statement this grant will write",
    State.SCHEDULED: "Trust statement this grant will write at its start",
    State.ACTIVE: "Trust statement written for this grant",
    State.EXPIRED: "Trust statement this grant wrote (removed when it expired)",
    State.REVOKED: "Trust statement this grant wrote (removed when it was revoked)",
}


NEVER_WRITTEN = "Trust statement it would have written (never written)"


EXTENDED_HEADING = "Trust statement of the grant it extended, with the new end"


def _documents(documents: list[tuple[str, dict]], state: State) -> str:
    """What the grant writes, exactly, folded in a <details> (works without JavaScript)."""
    heading = STATEMENT_HEADINGS.get(state, NEVER_WRITTEN)
    if state is State.EXTENDED:
        heading = EXTENDED_HEADING
    shown = "".join(
        f"<h3>{escape(title)}</h3>"
        # tabindex: a wide document scrolls sideways, and keyboards must be able to scroll it
        f"<pre id={'statement' if i == 0 else f'statement-{i + 1}'} tabindex=0>"
        f"{escape(json.dumps(document, indent=2))}</pre>"
        for i, (title, document) in enumerate(documents)
    )
    return (
        f"<details id=documents><summary>{escape(heading)}, and its session limit: the "
        f"{len(documents)} IAM document{'s' if len(documents) != 1 else ''} exactly</summary>"
        f"{shown}</details>"
    )


# -- scoped grants and scheduled windows (docs/grants.md) ------------------------------------
def _option_facts(request: AccessRequest, now: datetime) -> str:
    """The scope (its actions) and, for a scheduled window, its start."""
    shown = f"<dt>Scope</dt><dd id=scope>{escape(scope_summary(request))}</dd>"
    if request.starts_at:
        shown += f"<dt>Window</dt><dd id=starts>{escape(scheduled_summary(request, now))}</dd>"
    return shown


def _scheduled_does(request: AccessRequest, who: str, target: str, now: datetime) -> str:
    return (
        f"Approving lets {who} switch to {target} from {utc(parse_iso(request.starts_at))} "
        f"for {duration_words(request.duration)}; nothing is written before the start, and "
        "eligibility is checked again then. Then the trust is removed and every session "
        f"{request.requester_name} started with it is cut off."
    )


def _activity(report: ActivityReport | None) -> str:
    """The grant's last activity report (core/activity.py), as plain text: CloudTrail's
    names are partly chosen by whoever made the calls, so all of it is escaped."""
    if report is None:
        return ""
    title = "Activity report" if report.final else "Activity so far (break-glass, hourly)"
    return f"<h2>{title}</h2><pre id=activity class=activity>{escape(render_text(report))}</pre>"
