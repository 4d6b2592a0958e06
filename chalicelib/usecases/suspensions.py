"""Break-glass suspended after a flag: written when an approver flags a break-glass grant,
checked before any break-glass on that role by that person, lifted by one of the role's
approvers (``/access unsuspend <person> <role>`` or the flagged request's review page).

The suspension is a small record in the store (``SUSPENDED#<role>#<person>``) naming the
flagged request; lifting it is recorded in that request's audit trail, with its event.
"""

from __future__ import annotations

from chalicelib import telemetry
from chalicelib.core import events
from chalicelib.core.catalog import Catalog
from chalicelib.core.decisions import Refusal, Refused, is_approver
from chalicelib.core.groups import GroupsUnavailable
from chalicelib.core.model import AccessRequest, note
from chalicelib.core.suspension import check_lifter, find_person, lifters, suspended_refusal
from chalicelib.usecases.context import Context
from chalicelib.usecases.unit_of_work import Change, UnitOfWork

SUSPENDED = "break-glass suspended"  # the audit action of a flag's suspension
UNSUSPENDED = "break-glass unsuspended"  # the audit action of a lift


def suspended_words(catalog: Catalog, flagged: AccessRequest) -> str:
    role = catalog.role(flagged.role)
    who = lifters(catalog, role) if role else "its approvers"
    return (
        f"{flagged.requester_name}'s break-glass on {flagged.role} is suspended until an "
        f"approver of {flagged.role} ({who}) lifts it: `/access unsuspend "
        f"{flagged.requester_name} {flagged.role}` or this request's review page"
    )


class Suspensions:
    def __init__(self, context: Context, uow: UnitOfWork):
        self._c = context
        self._uow = uow

    def suspend(self, flagged: AccessRequest) -> None:
        """The flag of ``flagged`` suspends its requester's break-glass on its role."""
        self._c.store.suspend_break_glass(flagged.requester, flagged.role, flagged.id)

    def suspension(self, person: str, role: str) -> str | None:
        """The flagged request that suspends ``person``'s break-glass on ``role``, if any."""
        return self._c.store.break_glass_suspension(person, role)

    def may_lift(self, flagged: AccessRequest, person: str) -> bool:
        """Whether ``person`` may lift the suspension ``flagged`` set (the review page's
        button): it still holds, and they approve its role (False while Slack cannot say
        who is in a group)."""
        if self.suspension(flagged.requester, flagged.role) != flagged.id:
            return False
        role = self._c.catalog.role(flagged.role)
        try:
            return role is not None and is_approver(self._c.catalog, role, person, self._c.groups)
        except GroupsUnavailable:
            return False

    def refuse_if_suspended(self, requester: str, role_name: str) -> None:
        """Raise Refused (naming who can lift it) if the person's break-glass is suspended."""
        flagged = self.suspension(requester, role_name)
        role = self._c.catalog.role(role_name)
        if flagged is not None and role is not None:
            raise suspended_refusal(self._c.catalog, role, requester, flagged)

    def unsuspend(self, actor: str, person_text: str, role_name: str) -> tuple[str, str | None]:
        """Lift ``person``'s break-glass suspension on ``role``, if ``actor`` approves the role.
        Returns the person's Slack ID and the flagged request (its audit trail records it)."""
        c = self._c
        role = c.catalog.role(role_name)
        if role is None:
            raise Refused(Refusal.UNKNOWN_ROLE, f"There is no role called '{role_name}'.")
        check_lifter(c.catalog, role, actor, c.groups)
        person = find_person(c.catalog, person_text)
        if person is None:
            raise Refused(
                Refusal.UNKNOWN_PERSON,
                f"'{person_text[:40]}' is nobody in people.toml (give a mention, a Slack ID or "
                "a name).",
            )
        name = c.catalog.people[person].name
        flagged = self.suspension(person, role.name)
        if flagged is None:
            raise Refused(
                Refusal.NOT_SUSPENDED,
                f"{name}'s break-glass on {role.name} is not suspended; nothing was changed.",
            )
        detail = f"{name}'s break-glass on {role.name} may be used again"

        def attempt(n: int) -> AccessRequest | None:
            current = c.store.get_request(flagged)
            if current is None:
                return None  # the flagged request is gone from the table: lift all the same
            lifted = note(current, actor, UNSUSPENDED, c.clock(), detail)
            said = c.event(events.BREAKGLASS_UNSUSPENDED, lifted, actor, detail)
            return self._uow.commit(Change(lifted, (said,), was=current))[0]

        if self._uow.retrying(attempt, flagged) is None:
            telemetry.event("breakglass.unsuspended", actor=actor, person=person, role=role.name)
        c.store.lift_break_glass_suspension(person, role.name)
        return person, flagged
