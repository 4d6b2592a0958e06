"""One table: what each of the project's errors means to the person who clicked or typed.

Each entry gives the review page's HTTP status and heading, and the words for the page and
for the slash command's ephemeral answer. The two sets of words differ only where the next
step does (reload the page, or `/access list`). ``{error}`` is the error's own text, escaped
for where it is shown. Anything not in the table is our own bug: it is logged by the caller
and answered with an apology, never a stack trace.

Order matters: the first entry the error is an instance of wins (AwsUncertain is an
AwsUnavailable, LockHandedOver a LockBusy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.core.decisions import Refused
from chalicelib.core.errors import (
    AwsUnavailable,
    AwsUncertain,
    LockBusy,
    PolicyRejected,
    RoleMissing,
    StoreConflict,
)
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import TransitionError


@dataclass(frozen=True)
class Told:
    status: int  # the review page's HTTP status
    title: str  # the review page's heading
    page: str  # the review page's words
    slack: str  # the slash command's words (Slack mrkdwn); {command} is its name
    logged: bool = False  # worth a warning in the log: the platform team has to act
    maybe_done: bool = False  # the write may have landed: only when the command itself ran


TRY_AGAIN = "nothing was changed. Try again in a minute."

TABLE: tuple[tuple[type[Exception], Told], ...] = (
    # A rule said no (not an approver, already decided, past its deadline…): its reason says why.
    (Refused, Told(409, "Not done", "{error}", "{error}")),
    (TransitionError, Told(409, "Not done", "{error}", "{error}")),
    # A write was sent and its answer never came: it may have been done. Never "nothing was
    # changed" here.
    (
        AwsUncertain,
        Told(
            503,
            "Not confirmed",
            "AWS is slow right now, and Switchback could not confirm that your click was "
            "recorded. Reload the request page in a minute to see.",
            "AWS is slow right now, and I could not confirm that {what} was recorded.{later} "
            "Check `{command} list` in a minute before you try again.",
            maybe_done=True,
        ),
    ),
    (
        AwsUnavailable,  # throttling or 5xx after every retry, or no time left to try
        Told(
            503,
            "Try again",
            f"AWS is slow right now ({{error}}); {TRY_AGAIN}",
            f"AWS is slow right now ({{error}}); {TRY_AGAIN}",
        ),
    ),
    (
        LockBusy,  # another step holds the role, or the request changed too fast
        Told(
            503,
            "Try again",
            f"AWS is busy ({{error}}); {TRY_AGAIN}",
            f"AWS is busy ({{error}}); {TRY_AGAIN}",
        ),
    ),
    (
        GroupsUnavailable,  # Slack cannot say who is in a user group the rule names
        Told(
            503,
            "Try again",
            f"Switchback cannot tell right now whether you may do this: {{error}}. {TRY_AGAIN}",
            f"Switchback cannot tell right now whether you may do this: {{error}}. {TRY_AGAIN}",
        ),
    ),
    (
        StoreConflict,  # someone else's write landed first; its text names only the call
        Told(
            409,
            "Not done",
            "Someone else changed this request at the same moment; nothing was changed by "
            "your click. Reload the request page and look again.",
            "Someone else changed this request at the same moment; nothing was changed. "
            "Check `{command} list` before you try again.",
            logged=True,
        ),
    ),
    (
        PolicyRejected,  # IAM refused a policy document for good: retrying cannot help
        Told(
            409,
            "Not done",
            "{error}. The platform team needs to look at this role.",
            "{error}. The platform team needs to look at this role.",
            logged=True,
        ),
    ),
    (
        RoleMissing,
        Told(
            409,
            "Not done",
            "AWS says {error}. The platform team needs to look at this role.",
            "AWS says {error}. The platform team needs to look at this role.",
            logged=True,
        ),
    ),
)

OUR_BUG = Told(
    500,
    "Something went wrong",
    "Switchback failed on its side; it is logged for the platform team. "
    "Reload the request page before you try again.",
    "Something went wrong on Switchback's side; it is logged for the platform team. "
    "Check `{command} list` before you try again.",
)


def told(error: BaseException, nothing_ran: bool = False) -> Told:
    """The entry for ``error``: the first whose class it is an instance of, else OUR_BUG.
    ``nothing_ran`` when the error came before the use case ran (the slash command's replay
    check): whatever that write did, nothing the person asked for was done, so an unconfirmed
    write is answered as any slow AWS ("nothing was changed")."""
    return next(
        (
            entry
            for kind, entry in TABLE
            if isinstance(error, kind) and not (nothing_ran and entry.maybe_done)
        ),
        OUR_BUG,
    )


def log(error: BaseException, logger: logging.Logger, what: str, *args: object) -> None:
    """Log what the platform team must see: our own bugs in full, and the entries marked
    ``logged``; the rest (refusals, slow AWS) are the answer's business only."""
    entry = told(error)
    if entry is OUR_BUG:
        logger.exception(what, *args)
    elif entry.logged:
        logger.warning(what, *args, exc_info=True)


def page_words(error: BaseException) -> str:
    """The review page's words (plain text: the page escapes them)."""
    return told(error).page.format(error=error)


def slack_words(
    error: BaseException, command: str, new_request: bool = False, nothing_ran: bool = False
) -> str:
    """The slash command's words; ``new_request`` when the command was asking for a new
    request (then an unconfirmed write says the approvers will hear of it if it landed);
    ``nothing_ran`` as for ``told``."""
    from chalicelib.notify.messages import escape

    return told(error, nothing_ran).slack.format(
        error=escape(str(error)),
        command=command,
        what="your request" if new_request else "this",
        later=" If it was, the approvers will hear of it." if new_request else "",
    )


def sorry(command: str) -> str:
    """The slash command's apology for our own bugs."""
    return OUR_BUG.slack.format(command=command)
