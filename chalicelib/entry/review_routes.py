"""The review page: GET /requests/{id} (changes nothing) and its buttons, each a POST with the
signed-in session and the form's CSRF token: approve, deny, acknowledge, flag, revoke."""

from __future__ import annotations

from dataclasses import replace

from chalice import Blueprint, Response

from chalicelib.core import deadline
from chalicelib.core.breakglass import ACKNOWLEDGED, FLAGGED, check_reviewer
from chalicelib.core.decisions import Refused, check_decider, may_revoke
from chalicelib.core.model import State, is_request_id, normalise_request_id
from chalicelib.core.texts import NOTHING_WRITTEN, REVOKED_IN_FULL
from chalicelib.entry import errors, http
from chalicelib.web import pages, sessions

review_routes = Blueprint(__name__)

# API Gateway gives up after 29 s: a review-page button answers with a page well before.
PAGE_BUDGET_SECONDS = 25.0
# A click waits this long at most for a role lock another step holds; then its approval stays
# recorded and that step, or the next sweep, grants it (the page says "approved").
CLICK_LOCK_PATIENCE_SECONDS = 5.0


def _request_or_page(request, request_id: str):
    """The service and the stored request, or the "no such request" page (a malformed id is
    answered before anything is built or read)."""
    if not is_request_id(request_id):
        return None, None, _no_such_request()
    service = http.service(request)
    found = service.get(normalise_request_id(request_id))
    if found is None:
        return service, None, _no_such_request()
    return service, found, None


def _no_such_request() -> Response:
    return http.message("Not found", "There is no such request.", 404)


@review_routes.route("/requests/{request_id}", methods=["GET"])
def review(request_id: str) -> Response:
    request = review_routes.current_request
    service, found, missing = _request_or_page(request, request_id)
    if missing:
        return missing
    now = service.clock()
    session = http.session(request)
    if session is None:
        sign_in = http.sign_in_url(request, f"/requests/{found.id}")
        return http.html(pages.signed_out_page(found, now, sign_in))
    if service.catalog.person(session.user) is None:  # only the directory sees details
        return http.html(pages.not_in_directory_page(session.user), 403)
    page = pages.review_page(
        found,
        service.catalog.role(found.role),
        _may_unsuspend(
            service, found, _viewer(service.catalog, found, session, now, service.groups)
        ),
        service.what_approving_writes(found, now),
        now,
        _names(service.catalog),
        http.sign_out_url(request),
        activity=service.activity_report(found.id),
        grant=service.get(found.extends) if found.extends else None,
    )
    return http.html(page)


def _viewer(catalog, request, session: sessions.Session, now, groups) -> pages.Viewer:
    person = catalog.person(session.user)
    name = person.name if person else None
    if request.break_glass and not request.review:
        try:
            check_reviewer(catalog, request, session.user, groups)
        except Refused:
            pass
        else:
            return pages.Viewer(session.user, name, session.csrf, can_review=True)
    if request.state is State.SCHEDULED and may_call_off(catalog, request, session.user, groups):
        return pages.Viewer(session.user, name, session.csrf, can_revoke=True)
    if may_revoke(catalog, request, session.user, groups):
        return pages.Viewer(session.user, name, session.csrf, can_revoke=True)
    try:
        check_decider(catalog, request, session.user, now, members=groups)
    except Refused as refusal:
        return pages.Viewer(session.user, name, session.csrf, why_not=refusal.message)
    scopes = _narrow_to(catalog, request)
    return pages.Viewer(session.user, name, session.csrf, can_decide=True, narrow_to=scopes)


def may_call_off(catalog, request, user, groups) -> bool:
    """Whether ``user`` may revoke (call off) a scheduled window before its start: whoever
    could revoke it once it runs."""
    return may_revoke(catalog, replace(request, state=State.ACTIVE), user, groups)


def _narrow_to(catalog, request) -> tuple[str, ...]:
    """The scopes a decider may narrow this request to: a pending request for a whole role
    that has scopes (not an extension, not break-glass)."""
    role = catalog.role(request.role)
    if role is None or request.scope or request.extends or request.break_glass:
        return ()
    return tuple(s.name for s in role.scopes) if request.state is State.PENDING else ()


def _may_unsuspend(service, request, viewer: pages.Viewer) -> pages.Viewer:
    """The viewer, who may also lift the break-glass suspension this flagged grant set."""
    if request.review != FLAGGED or not service.may_lift_suspension(request, viewer.slack_id):
        return viewer
    return replace(viewer, can_unsuspend=True)


def _names(catalog) -> dict[str, str]:
    return {"switchback": "Switchback"} | {i: p.name for i, p in catalog.people.items()}


def _decide(request_id: str, action: str) -> Response:
    """A button: always answers with a page (the request's, or what the error table says)."""
    with deadline.within(PAGE_BUDGET_SECONDS), deadline.lock_patience(CLICK_LOCK_PATIENCE_SECONDS):
        try:
            return _decide_within_budget(request_id, action)
        except Exception as error:
            errors.log(error, review_routes.log, "%s of %s failed", action, request_id)
            return http.error_page(error)


def _decide_within_budget(request_id: str, action: str) -> Response:
    request = review_routes.current_request
    service, found, missing = _request_or_page(request, request_id)
    if missing:
        return missing
    session = http.session(request)
    form = http.form(request)
    if session is None:
        return http.message(
            "Sign in first",
            "Your session is missing or expired; open the request link again and sign in.",
            401,
        )
    if not sessions.csrf_ok(session, form.get("csrf")):
        return http.message(
            "Refused",
            "The form's security token is missing or wrong; reload the request page and try again.",
            403,
        )
    try:
        if action == "approve":
            service.approve(found.id, session.user, known=found)
        elif action == "narrow":
            service.narrow(found.id, session.user, form.get("scope", "")[:64])
        elif action == "revoke":
            said = service.revoke_with_outcome(found.id, session.user)[1]
        elif action == "unsuspend":
            service.unsuspend(session.user, found.requester, found.role)
        elif action in (ACKNOWLEDGED, FLAGGED):
            service.review(found.id, session.user, action, form.get("reason", "")[:500])
        else:
            service.deny(found.id, session.user, form.get("reason", "")[:500])
    finally:  # sends stop a second early: what they did is recorded in one write after
        budget = deadline.current()
        service.flush(max(0.0, min(5.0, budget.remaining() - 1.0)) if budget else 5.0)
    # What IAM still owes, in words (a window called off before its start owes nothing).
    if action == "revoke" and said not in (REVOKED_IN_FULL, NOTHING_WRITTEN):
        return http.message(f"Request {found.id} is revoked; IAM is not finished", said)
    # The page shows what was recorded (an approval whose grant AWS delayed shows as
    # approved; the next sweep grants it).
    return http.redirect(f"{http.base_url(request)}/requests/{found.id}")


@review_routes.route("/requests/{request_id}/approve", methods=["POST"], content_types=http.FORM)
def approve(request_id: str) -> Response:
    return _decide(request_id, "approve")


@review_routes.route("/requests/{request_id}/deny", methods=["POST"], content_types=http.FORM)
def deny(request_id: str) -> Response:
    return _decide(request_id, "deny")


@review_routes.route(
    "/requests/{request_id}/acknowledge", methods=["POST"], content_types=http.FORM
)
def acknowledge(request_id: str) -> Response:
    return _decide(request_id, ACKNOWLEDGED)


@review_routes.route("/requests/{request_id}/flag", methods=["POST"], content_types=http.FORM)
def flag(request_id: str) -> Response:
    return _decide(request_id, FLAGGED)


@review_routes.route("/requests/{request_id}/unsuspend", methods=["POST"], content_types=http.FORM)
def unsuspend(request_id: str) -> Response:
    return _decide(request_id, "unsuspend")


@review_routes.route("/requests/{request_id}/revoke", methods=["POST"], content_types=http.FORM)
def revoke(request_id: str) -> Response:
    return _decide(request_id, "revoke")


@review_routes.route("/requests/{request_id}/narrow", methods=["POST"], content_types=http.FORM)
def narrow(request_id: str) -> Response:
    return _decide(request_id, "narrow")
