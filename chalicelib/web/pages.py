"""Server-rendered HTML pages: no JavaScript, no external assets, every user string escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape

from chalicelib.core.activity_model import ActivityReport
from chalicelib.core.catalog import RoleSpec
from chalicelib.core.durations import format_duration
from chalicelib.core.extensions import plan_extension
from chalicelib.core.identity import describe, is_sso
from chalicelib.core.model import AccessRequest, AuditEntry, State, parse_iso
from chalicelib.core.texts import extension_title
from chalicelib.notify.messages import clip, scheduled_summary, visible_line
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
from chalicelib.web.review_forms import Viewer, action_forms
from chalicelib.web.review_parts import (  # noqa: F401 (re-exported)
    EXTENDED_HEADING,
    NEVER_WRITTEN,
    STATEMENT_HEADINGS,
    _activity,
    _documents,
    _option_facts,
    _scheduled_does,
)
from chalicelib.web.sign_in_pages import dev_sign_in_page, not_in_directory_page, signed_in_page  # noqa: F401 (re-exported)

HEADLINE_REASON_CHARS = 140  # of the reason in the first line; the facts below show it whole


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
    State.EXTENDED: "Approved: the grant's end was moved",
    State.SCHEDULED: "Approved ahead: granted at its start",
}


def shown_state(request: AccessRequest, now: datetime) -> State:
    """The state to show: an undecided request past its deadline has lapsed, sweep or not."""
    if request.state is State.PENDING and now >= parse_iso(request.approval_deadline):
        return State.LAPSED
    return request.state


def _last(request: AccessRequest, state: State) -> AuditEntry | None:
    return next((e for e in reversed(request.audit) if e.state is state), None)


def headline(request: AccessRequest) -> str:
    """The first line: who wants what, for how long and why (text, not HTML)."""
    reason = clip(visible_line(request.reason), HEADLINE_REASON_CHARS)
    if request.extends:
        return (
            f"{request.requester_name} asks to extend {request.extends} by "
            f"{duration_words(request.duration)} — {reason or 'no reason given'}"
        )
    if request.break_glass:
        return (
            f"BREAK-GLASS: {request.requester_name} took {request.role} for "
            f"{duration_words(request.duration)} without approval — {reason}"
        )
    return (
        f"{request.requester_name} asks for {request.role} for "
        f"{duration_words(request.duration)} — {reason}"
    )


def _principal_html(principal: str) -> str:
    """Who the grant trusts: an IAM user by its ARN; an Identity Center person in words (user,
    permission set, account), not by the role pattern with its ``?`` that trust matches."""
    if is_sso(principal):
        return f"({escape(describe(principal))})"
    return f"<code>{escape(principal)}</code>"


def what_approving_does(request: AccessRequest, state: State, now: datetime) -> str:
    """One plain sentence on what the grant does (text, not HTML)."""
    role_name = request.role_arn.split(":role/", 1)[-1]
    account = request.role_arn.split(":")[4] if request.role_arn.count(":") >= 5 else "?"
    who = f"{request.requester_name} ({describe(request.principal_arn)})"
    target = f"the role {role_name} in account {account}"
    if request.extends:
        if state is not State.PENDING:
            return ""
        return (
            f"Approving moves the end of {request.requester_name}'s grant {request.extends} "
            f"later by {duration_words(request.duration)} (at most the role's maximum from the "
            "approval); until then the grant goes on unchanged."
        )
    if request.starts_at and state in (State.PENDING, State.SCHEDULED):
        return _scheduled_does(request, who, target, now)
    if state is State.PENDING:
        end = now + request.duration
        return (
            f"Approving lets {who} switch to {target} until {utc(end)} if approved now "
            f"({duration_words(request.duration)} from the approval); then the trust is "
            f"removed and every session {request.requester_name} started with it is cut off."
        )
    if state in (State.APPROVED, State.ACTIVE) and request.ends_at:
        return (
            f"{who} may switch to {target} until {when(request.ends_at, now)}; then the "
            f"trust is removed and every session {request.requester_name} started with it is "
            "cut off."
        )
    return ""


def state_summary(request: AccessRequest, now: datetime, names: dict[str, str]) -> str:
    """One plain sentence on where the request stands (text, not HTML)."""
    state = shown_state(request, now)
    entry = _last(request, state)
    who = names.get(entry.actor, entry.actor) if entry else "someone"
    at = when(entry.at, now) if entry else ""
    if state is State.SCHEDULED:
        return f"Approved ahead by {who} at {at}: {scheduled_summary(request, now)}."
    if state is State.PENDING:
        missing = request.approvals_required - len(request.approvals)
        return (
            f"Waiting for {missing} more approval{'s' if missing != 1 else ''} "
            f"({len(request.approvals)} of {request.approvals_required} so far). "
            f"Undecided, it lapses at {when(request.approval_deadline, now)}."
        )
    if state is State.APPROVED:
        return "Approved; the trust statement is being written."
    if state is State.ACTIVE:
        return (
            f"Granted: {request.requester_name} can switch to this role until "
            f"{when(request.ends_at, now)}."
        )
    if state is State.EXPIRED:
        return (
            f"Expired: the access window ended at {when(request.ends_at, now)} and the trust "
            "statement was removed."
        )
    if state is State.REVOKED:
        return f"Revoked by {who} at {at}, before its end; the trust statement was removed."
    if state is State.DENIED:
        reason = f" Reason: {visible_line(entry.detail)}" if entry and entry.detail else ""
        return f"Denied by {who} at {at}; nothing was granted.{reason}"
    if state is State.CANCELLED:
        return f"Cancelled by the requester at {at}; nothing was granted."
    if state is State.EXTENDED:
        ends = when(request.ends_at, now) if request.ends_at else "later"
        return f"Approved by {who} at {at}: grant {request.extends} now ends {ends}."
    if state is State.LAPSED:
        return (
            f"Lapsed: nobody decided by {when(request.approval_deadline, now)}, so nothing was "
            "granted. The requester can ask again."
        )
    return f"Failed: {request.failure or 'the grant could not be written'}. Nothing was granted."


def _extension_end_text(
    request: AccessRequest,
    state: State,
    now: datetime,
    grant: AccessRequest | None,
    role: RoleSpec | None,
) -> str:
    """An extension's end: the grant's end moved later by its duration (not the duration from
    the approval), capped by the role's maximum from the approval; once applied, the new end."""
    if state is State.EXTENDED and request.ends_at:
        return f"{when(request.ends_at, now)} (the grant's new end)"
    current = grant.ends() if grant is not None else None
    if state is not State.PENDING or current is None or role is None:
        return "not extended"
    plan = plan_extension(current, request.duration, now, role.max_duration)
    if plan.new_end is None:
        return (
            f"unchanged at {utc(current)} if approved now: {role.name} allows "
            f"{duration_words(role.max_duration)} at most from the approval"
        )
    cut = (
        f"; {duration_words(plan.asked)} asked, cut to {duration_words(plan.added)} by the "
        f"role's maximum of {duration_words(role.max_duration)} from the approval"
        if plan.capped
        else ""
    )
    return (
        f"{utc(plan.new_end)} if approved now (the grant's end, {utc(current)}, moved "
        f"{duration_words(plan.added)} later{cut})"
    )


def _revoked_end_text(request: AccessRequest, now: datetime) -> str:
    """A grant revoked (or flagged) before its end: when it ended, not when it would have."""
    entry = _last(request, State.REVOKED)
    ended = when(entry.at, now) if entry else "early"
    planned = f"; it was to end {utc(parse_iso(request.ends_at))}" if request.ends_at else ""
    return f"{ended} (revoked{planned})"


def _approvals_text(request: AccessRequest, names: dict[str, str]) -> str:
    if request.break_glass and not request.approvals:
        return "none: taken without approval (break-glass), reviewed afterwards"
    approvers = ", ".join(names.get(a, a) for a in request.approvals) or "none yet"
    return f"{len(request.approvals)} of {request.approvals_required} ({approvers})"


def _end_text(request: AccessRequest, state: State, now: datetime) -> str:
    if state is State.PENDING and request.starts_at:  # a scheduled window: its own end
        return when(parse_iso(request.starts_at) + request.duration, now)
    if state is State.PENDING:
        after = duration_words(request.duration)
        return f"{utc(now + request.duration)} if approved now ({after} after the approval)"
    if request.ends_at and state in STATEMENT_HEADINGS:
        return when(request.ends_at, now)
    return "never granted"


def review_page(
    request: AccessRequest,
    role: RoleSpec | None,
    viewer: Viewer,
    documents: list[tuple[str, dict]],
    now: datetime,
    names: dict[str, str],
    sign_out_url: str,
    activity: ActivityReport | None = None,
    grant: AccessRequest | None = None,  # the grant an extension extends
) -> str:
    """The request as a signed-in person sees it, with the buttons they may press.

    ``documents`` are what the grant writes in IAM, as (title, document) pairs, shown exactly.
    """
    state = shown_state(request, now)
    description = escape(role.description) if role else "(role no longer in the policies)"
    facts = (
        f"<dt>Requester</dt><dd>{escape(request.requester_name)} "
        f"{_principal_html(request.principal_arn)}</dd>"
        f"<dt>Role</dt><dd><code>{escape(request.role)}</code> — {description}<br>"
        f"<code>{escape(request.role_arn)}</code></dd>"
        f"<dt>Duration</dt><dd>{format_duration(request.duration)}</dd>"
        f"<dt>Ends</dt><dd id=ends>{escape(_ends(request, state, now, grant, role))}</dd>"
        f"<dt>Reason</dt><dd id=reason>“<bdi>{escape(visible_line(request.reason))}</bdi>”</dd>"
        f"<dt>Approvals</dt><dd id=approvals>{escape(_approvals_text(request, names))}</dd>"
        f"<dt>State</dt><dd><span id=state class='state {state.value}'>"
        f"{escape(STATE_WORDS[state])}</span></dd>"
    )
    facts += _option_facts(request, now)
    audit = "".join(
        f"<tr><td>{escape(utc(parse_iso(e.at)))}</td><td>{escape(names.get(e.actor, e.actor))}</td>"
        f"<td>{escape(e.action)}</td><td>{escape(visible_line(e.detail))}</td></tr>"
        for e in request.audit
    )
    does = what_approving_does(request, state, now)
    signed_in_as = escape(viewer.name or viewer.slack_id)
    if request.extends:
        title = f"Extension request <code>{escape(request.id)}</code>"
        kind = f"<p id=kind>{escape(extension_title(request))}</p>"
    elif request.break_glass:
        title = f"BREAK-GLASS grant <code>{escape(request.id)}</code>"
        review = (
            f"{request.review} by {names.get(request.reviewed_by or '', request.reviewed_by)}"
            if request.review
            else "not reviewed yet"
        )
        kind = f"<p id=kind class=breakglass>Taken without approval; {escape(review)}.</p>"
    else:
        title, kind = f"Access request <code>{escape(request.id)}</code>", ""
    body = (
        f"<main><h1 id=headline><bdi>{escape(headline(request))}</bdi></h1>"
        f"<p class=rid>{title}</p>{kind}"
        f"<p class='summary {state.value}' id=summary>"
        f"{escape(state_summary(request, now, names))}</p>"
        + (f"<p class=does id=does>{escape(does)}</p>" if does else "")
        + f"<dl>{facts}</dl>"
        f"<section id=actions aria-label=Actions>{action_forms(request, viewer)}</section>"
        f"{_documents(documents, state)}"
        f"{_activity(activity)}"
        f"<h2>Audit trail</h2><table id=audit><tr><th>When (UTC)</th><th>Who</th><th>What</th>"
        f"<th>Detail</th></tr>{audit}</table></main>"
        f"<footer><form method=post action='{escape(sign_out_url)}'>"
        f"<input type=hidden name=csrf value='{escape(viewer.csrf)}'>"
        f"Signed in as {signed_in_as} (<code>{escape(viewer.slack_id)}</code>) "
        f"<button type=submit>Sign out</button></form></footer>"
    )
    return layout(f"Request {request.id}", body)


def _ends(
    request: AccessRequest,
    state: State,
    now: datetime,
    grant: AccessRequest | None,
    role: RoleSpec | None,
) -> str:
    if request.extends:
        return _extension_end_text(request, state, now, grant, role)
    if state is State.REVOKED:
        return _revoked_end_text(request, now)
    return _end_text(request, state, now)


def signed_out_page(request: AccessRequest, now: datetime, sign_in_url: str) -> str:
    """What someone not signed in sees: the state, and a sign-in link; no details."""
    state = shown_state(request, now)
    body = (
        f"<h1>Access request <code>{escape(request.id)}</code></h1>"
        f"<p>State: <span id=state class='state {state.value}'>"
        f"{escape(STATE_WORDS[state])}</span></p>"
        f"<p class=note>To see who asked for what and to decide, "
        f"<a href='{escape(sign_in_url)}'>sign in</a>.</p>"
    )
    return layout(f"Request {request.id}", body)
