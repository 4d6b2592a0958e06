"""Who hears what, through which Slack destination: the approvers' channel or the requester.

The requester hears through their command's ``response_url`` while Slack accepts it (for 30
minutes, at most 5 posts, counted by the outbox as each is sent); after that by direct message
when a bot token is configured (``chat.postMessage``), otherwise in the approvers' channel,
mentioning them. A message sent to the response_url carries that later route as its fallback,
so one Slack refuses, one past the fifth post, or one that waits past the half hour still
arrives.

A subscriber of the notification port (notify/port.py): ``owes(event)`` says which Slack
messages a domain event owes; they are stored with the state change that caused it. Messages
queued outside a use case (``requester`` and ``approvers`` called directly) go into the outbox
at once, and ``flush`` sends them within a deadline; anything unsent is the sweep's to deliver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from chalicelib.core import events
from chalicelib.core.catalog import Catalog
from chalicelib.core.events import Event
from chalicelib.core.groups import Members, expand, no_groups
from chalicelib.core.model import AccessRequest, State, parse_iso
from chalicelib.delivery.destinations import break_glass_channel, role_channel
from chalicelib.delivery.message import OutboxMessage
from chalicelib.delivery.outbox import Outbox
from chalicelib.delivery.slack import CHAT_POST_MESSAGE
from chalicelib.notify import messages

RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's limit on a slash command's response_url
# Stop using it a minute early: a message queued at 29:59 would reach Slack too late.
RESPONSE_URL_USABLE = RESPONSE_URL_LIFETIME - timedelta(minutes=1)
# A state change and the messages it owes are one DynamoDB transaction (at most 100 items):
# past this many approvers, the channel is how the rest hear.
DIRECT_MESSAGES_AT_MOST = 50
# Channel messages that end a request's wait: each approver told directly gets a follow-up.
DECIDED = {
    "approvers.approved": "approved",
    "approvers.denied": "denied",
    "approvers.cancelled": "cancelled",
    "approvers.lapsed": "lapsed",
}


class Notifier:
    def __init__(
        self,
        catalog: Catalog,
        outbox: Outbox,
        default_webhook: str | None,  # the approvers' channel: its name (or a URL), None: none
        clock: Callable[[], datetime],
        direct_messages: bool = False,
        groups: Members = no_groups,
    ):
        self.catalog = catalog
        self.groups = groups
        self.outbox = outbox
        self.default_webhook = default_webhook
        self.clock = clock
        self.direct_messages = direct_messages  # a bot token is configured
        # Per thread: the local server handles requests in threads, and each flushes its own.
        self._local = threading.local()

    def owes(self, event: Event) -> list[OutboxMessage]:
        """The Slack messages ``event`` owes, prepared but not stored (the caller writes them
        with the state change); [] for an event with a ``once`` key already announced."""
        with self.owing() as owed:
            self._hear(event)
        return owed

    def _hear(self, event: Event) -> None:
        """Who hears ``event`` in Slack, and what (messages.py has the words)."""
        request, by, name = event.request, event.actor, event.name
        if request is None:
            return  # about no request (drift): the logs and the alarms say it
        role = self.catalog.role(request.role)
        if name == events.REQUESTED and request.break_glass:
            alarm = messages.break_glass_alarm(request, role, event.base_url)
            self.break_glass(request, alarm, "approvers.new")
        elif name == events.REQUESTED:
            new = messages.approvers_new_request(request, role, event.base_url)
            self.approvers(request, new, "approvers.new")
        elif name == events.EXTENSION_REQUESTED:
            new = messages.approvers_new_extension(request, event.related, event.base_url)
            self.approvers(request, new, "approvers.new")
        elif name == events.APPROVAL_COUNTED:
            self.both(request, "approval", by, messages.approval_progress(request))
        elif name in (events.APPROVED, events.CANCELLED):
            what = name.split(".")[1]
            update = messages.approvers_update(request, what, by)
            self.approvers(request, update, f"approvers.{what}", by)
        elif name == events.DENIED:
            self.both(request, "denied", by, event.detail)
        elif name == events.LAPSED:
            self.both(request, "lapsed", None, event.detail, approvers_detail="")
        elif name == events.GRANTED:
            self.requester(request, messages.requester_granted(request, role), "requester.granted")
            self.approvers(
                request,
                messages.approvers_update(request, "granted", None, f"until {request.ends_at}"),
                "approvers.granted",
            )
        elif name == events.EXTENDED:
            self._extended(request, event.related, by, event.added)
        elif name in (events.GRANT_FAILED, events.EXTENSION_FAILED):
            self.both(request, "failed", None, request.failure or "")
        elif name == events.EXPIRED:
            self.both(request, "expired", by)
        elif name == events.REVOKED:
            self.both(request, "revoked", by)
        elif name == events.REVOKE_UNFINISHED:
            self.both(request, "revoked", by, event.detail)
        elif name in (events.ACKNOWLEDGED, events.FLAGGED):
            verdict = name.split(".")[1]
            if name == events.FLAGGED:
                flagged = self._flagged(request, by, event.detail)
                self.requester(request, flagged, "requester.flagged")
            update = messages.approvers_update(request, verdict, by, event.detail)
            self.break_glass(request, update, f"approvers.{verdict}")
        elif name in (events.BREAKGLASS_SUSPENDED, events.BREAKGLASS_UNSUSPENDED):
            self._suspension(request, name.split(".")[1], by, event.detail)
        elif name == events.ENDING_SOON:
            reminder = messages.requester_reminder(request, event.at)
            self.requester(request, reminder, "requester.reminder", once=event.once)
        elif name == events.AWAITING_DECISION:
            reminder = messages.approvers_reminder(request, event.base_url, event.at)
            self.approvers(request, reminder, "approvers.reminder", once=event.once)
        elif name in (events.SCHEDULED, events.STARTING_SOON, events.NARROWED):
            _scheduled_or_scoped(self, request, event)
        elif name == events.ACTIVITY_REPORTED and event.report is not None:
            self._activity(request, event)
        elif name == events.REVIEW_OVERDUE:
            reminder = messages.break_glass_review_reminder(request, role, event.base_url)
            self.break_glass(request, reminder, "approvers.breakglass_review", once=event.once)

    def _activity(self, request: AccessRequest, event: Event) -> None:
        """An activity report: the approvers' channel (break-glass: its channels too) and the
        requester, each once."""
        payload = messages.activity_report(event.report, event.base_url)
        once = event.once or f"{request.id}-activity"
        if request.break_glass:
            self.break_glass(request, payload, "approvers.activity", once=f"{once}-approvers")
        else:
            self.approvers(request, payload, "approvers.activity", once=f"{once}-approvers")
        said = "\n".join(b["text"]["text"] for b in payload["blocks"] if b.get("type") == "section")
        self.requester(request, said, "requester.activity", once=f"{once}-requester")

    def _flagged(self, request: AccessRequest, by: str | None, why: str) -> str:
        """To the requester: their break-glass grant was flagged, and revoked if it was live
        (the flag moved it to REVOKED), and why."""
        revoked = request.state is State.REVOKED
        return messages.requester_flagged(request, by or "switchback", why, was_active=revoked)

    def _suspension(self, request: AccessRequest, what: str, by: str | None, words: str) -> None:
        """A break-glass suspended by a flag, or lifted: the person and the channel hear."""
        told = messages.requester_update(request, what, by, words)
        self.requester(request, told, f"requester.{what}")
        update = messages.approvers_update(request, what, by, words)
        self.break_glass(request, update, f"approvers.{what}")

    def _extended(
        self,
        grant: AccessRequest,
        extension: AccessRequest | None,
        by: str | None,
        added: timedelta | None = None,
    ) -> None:
        """An applied extension: the requester, the channel and the approvers told directly
        hear the grant's new end (the requester also how much was added, and whether the
        role's maximum cut it)."""
        role = self.catalog.role(grant.role)
        if extension is not None and added is not None and role is not None:
            told = messages.requester_extended(grant, added, extension.duration, role, by)
        else:
            told = messages.requester_update(
                grant, "extended", by, f"now until {messages.utc_text(grant.ends_at)}"
            )
        self.requester(grant, told, "requester.extended")
        if extension is not None:
            self.approvers(
                extension,
                messages.approvers_update(
                    extension, "extended", by, f"{grant.id} now ends {grant.ends_at}"
                ),
                "approvers.approved",
                by,
            )

    def approvers_channel(self, role_name: str) -> str | None:
        """The approvers' channel of a role, by name (the URL is looked up when the message is
        sent: chalicelib/delivery/destinations.py); None when there is none."""
        role = self.catalog.role(role_name)
        if role and role.webhook_url:
            return role_channel(role.name)
        return self.default_webhook

    def approvers(
        self,
        request: AccessRequest,
        payload: dict,
        kind: str,
        by: str | None = None,
        once: str | None = None,
    ) -> bool:
        """Tell the approvers' channel; a new request also goes to each approver in
        ``request.told`` directly, and a decision (``by`` whom) follows each of those up.
        With ``once`` (a message id), a second call with the same id sends nothing."""
        if once and self.outbox.already_queued(once):
            return False
        queued = self._queue(
            self.approvers_channel(request.role), payload, kind, request, message_id=once
        )
        if kind == "approvers.new":
            for approver in request.told:
                self._queue(
                    CHAT_POST_MESSAGE,
                    messages.approver_direct(payload, approver),
                    "approver.direct",
                    request,
                )
        elif kind in DECIDED:
            for approver in request.told:
                self._queue(
                    CHAT_POST_MESSAGE,
                    {
                        **messages.approver_followup(request, DECIDED[kind], by),
                        "channel": approver,
                    },
                    "approver.followup",
                    request,
                )
        return queued

    def break_glass(
        self, request: AccessRequest, payload: dict, kind: str, once: str | None = None
    ) -> None:
        """A break-glass message: the approvers' channel (and, with ``kind`` approvers.new,
        each approver directly) plus the role's ``break_glass_webhook_url`` if set."""
        if not self.approvers(request, payload, kind, once=once) and once:
            return  # sent before
        role = self.catalog.role(request.role)
        if role and role.break_glass_webhook_url:
            self._queue(break_glass_channel(role.name), payload, f"{kind}.breakglass", request)

    def direct_recipients(self, role_name: str, requester: str) -> tuple[str, ...]:
        """The approvers of a role to message directly about a new request: everyone it names,
        its groups' members included, who is in people.toml (the only ones who can decide),
        but never the requester. Needs a bot token; a group Slack cannot resolve now is left
        out (its members still see the channel)."""
        role = self.catalog.role(role_name)
        if not self.direct_messages or role is None:
            return ()
        people, _unresolved = expand(role.approvers, self.groups)
        told = tuple(p for p in people if p in self.catalog.people and p != requester)
        return told[:DIRECT_MESSAGES_AT_MOST]

    def both(
        self,
        request: AccessRequest,
        what: str,
        by: str | None,
        detail: str = "",
        approvers_detail: str | None = None,
    ) -> None:
        """Tell the requester and the approvers' channel that ``request`` was ``what`` (denied,
        expired…) by ``by``, with ``detail`` (the approvers get ``approvers_detail`` if given)."""
        self.requester(
            request, messages.requester_update(request, what, by, detail), f"requester.{what}"
        )
        shown = detail if approvers_detail is None else approvers_detail
        self.approvers(
            request, messages.approvers_update(request, what, by, shown), f"approvers.{what}", by
        )

    def requester(
        self, request: AccessRequest, text: str, kind: str, once: str | None = None
    ) -> bool:
        """Tell the requester ``text``; False if nothing was queued. With ``once`` (a message
        id), a second call with the same id sends nothing (the sweep's reminder runs every
        minute)."""
        if once and self.outbox.already_queued(once):
            return False
        later = self.later_route(request, text)
        usable_until = parse_iso(request.created_at) + RESPONSE_URL_USABLE
        # Whether one of Slack's five posts to it is left is asked when the message is sent
        # (delivery/outbox.py), not here: what a change owes is worked out again each time a
        # conflict is retried, and must cost nothing.
        if request.response_url and self.clock() < usable_until:
            return self._queue(
                request.response_url,
                messages.to_requester(text),
                kind,
                request,
                message_id=once,
                fallback=later,
                url_expires_at=usable_until,
            )
        return self._queue(later[0], later[1], kind, request, message_id=once)

    def later_route(self, request: AccessRequest, text: str) -> tuple[str | None, dict]:
        """Where the requester hears once the response_url is spent: a direct message, or a
        mention in the approvers' channel."""
        if self.direct_messages:
            return CHAT_POST_MESSAGE, messages.direct_message(request.requester, text)
        return (
            self.approvers_channel(request.role),
            messages.to_requester_in_channel(request.requester, text),
        )

    @contextmanager
    def owing(self) -> Iterator[list[OutboxMessage]]:
        """Collect, instead of storing, the messages queued in this block (this thread only)."""
        outer = self._local.__dict__.get("owing")
        self._local.owing = owed = []
        try:
            yield owed
        finally:
            self._local.owing = outer

    def _queue(
        self, url: str | None, payload: dict, kind: str, request: AccessRequest, **options
    ) -> bool:
        owing = self._local.__dict__.get("owing")
        if owing is not None:
            prepared = self.outbox.prepare(url, payload, kind, request.id, self.clock(), **options)
            if prepared is not None:
                owing.append(prepared)
            return prepared is not None
        message = self.outbox.enqueue(url, payload, kind, request.id, self.clock(), **options)
        self._local.__dict__.setdefault("unsent", []).append(message)
        return message is not None

    def flush(self, seconds: float) -> None:
        """Send what this thread queued outside ``owing``, within ``seconds``; the rest goes
        with the next sweep."""
        unsent = self._local.__dict__.pop("unsent", [])
        self.outbox.send_now(unsent, self.clock(), time.monotonic() + seconds)


def _scheduled_or_scoped(notifier: Notifier, request: AccessRequest, event: Event) -> None:
    """A window approved ahead (the requester and the channel hear when it starts), its
    start coming soon (the requester, once), a request narrowed to a scope."""
    if event.name == events.SCHEDULED:
        text = messages.requester_scheduled(request, event.actor)
        notifier.requester(request, text, "requester.scheduled")
        update = messages.approvers_update(
            request, "scheduled", event.actor, f"starts {messages.utc_text(request.starts_at)}"
        )
        notifier.approvers(request, update, "approvers.approved", event.actor)
    elif event.name == events.STARTING_SOON:
        text = messages.start_reminder(request, event.at)
        notifier.requester(request, text, "requester.start_reminder", once=event.once)
    else:
        text = messages.requester_narrowed(request, event.actor or "")
        notifier.requester(request, text, "requester.narrowed")
