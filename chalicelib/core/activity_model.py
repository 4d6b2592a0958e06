"""The activity report's data: what a person did with a grant, as counts and lists.

Built by chalicelib/core/activity.py from CloudTrail's records, stored and sent as
``to_dict``'s JSON, shown by chalicelib/core/activity_text.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionCount:
    """Calls of one ``service:Action``: how many, the first few resources, the error codes."""

    action: str
    count: int
    resources: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # errorCode values seen (denied and failed calls)

    def to_dict(self) -> dict:
        found = {"action": self.action, "count": self.count}
        if self.resources:
            found["resources"] = list(self.resources)
        if self.errors:
            found["errors"] = list(self.errors)
        return found

    @classmethod
    def from_dict(cls, data: dict) -> ActionCount:
        return cls(
            action=data["action"],
            count=int(data["count"]),
            resources=tuple(data.get("resources", ())),
            errors=tuple(data.get("errors", ())),
        )


@dataclass(frozen=True)
class SignIn:
    """The person taking the role up: an AssumeRole into it, or a console sign-in event."""

    at: str
    kind: str  # AssumeRole, SwitchRole, ConsoleLogin, GetSigninToken…
    region: str
    error: str = ""  # errorCode, or the console's "Failure"; empty when it worked
    source_ip: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}

    @classmethod
    def from_dict(cls, data: dict) -> SignIn:
        return cls(**{k: data.get(k, "") for k in ("at", "kind", "region", "error", "source_ip")})


@dataclass(frozen=True)
class ChainAttempt:
    """The granted session asking STS for another role (role chaining)."""

    at: str
    action: str  # sts:AssumeRole, sts:AssumeRoleWithSAML…
    target: str  # the role ARN it asked for
    error: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}

    @classmethod
    def from_dict(cls, data: dict) -> ChainAttempt:
        return cls(**{k: data.get(k, "") for k in ("at", "action", "target", "error")})


@dataclass(frozen=True)
class ActivityReport:
    request_id: str
    person: str  # the requester's name, as the policies give it
    session_name: str
    role: str  # policy name (ec2-admin)
    role_arn: str
    window_start: str  # what was read, ISO UTC
    window_end: str
    regions_read: tuple[str, ...]
    total: int = 0  # every call of the granted role's sessions in the window
    read_only: int = 0  # read-only calls that worked (counted, not listed)
    writes: tuple[ActionCount, ...] = ()  # calls that changed something, by action
    denied: tuple[ActionCount, ...] = ()  # AccessDenied and the like, by action
    errors: tuple[ActionCount, ...] = ()  # other failed calls, by action
    sign_ins: tuple[SignIn, ...] = ()
    chaining: tuple[ChainAttempt, ...] = ()
    regions: tuple[tuple[str, int], ...] = ()  # region -> calls, busiest first
    first_call: str | None = None
    last_call: str | None = None
    truncated: bool = False  # the event cap was reached: there is more than this
    not_counted: int = 0  # read, but not this grant's session (other roles, other people)
    final: bool = True  # False: an hourly report of a break-glass grant still active
    produced_at: str = ""

    @property
    def write_count(self) -> int:
        return sum(a.count for a in self.writes)

    @property
    def denied_count(self) -> int:
        return sum(a.count for a in self.denied)

    @property
    def error_count(self) -> int:
        return sum(a.count for a in self.errors)

    def to_dict(self) -> dict:
        """The report as JSON-ready data (``--json``, the event's detail, storage)."""
        return {
            "request_id": self.request_id,
            "person": self.person,
            "session_name": self.session_name,
            "role": self.role,
            "role_arn": self.role_arn,
            "window": {"start": self.window_start, "end": self.window_end},
            "regions_read": list(self.regions_read),
            "counts": {
                "calls": self.total,
                "read_only": self.read_only,
                "writes": self.write_count,
                "denied": self.denied_count,
                "errors": self.error_count,
                "sign_ins": len(self.sign_ins),
                "role_chaining": len(self.chaining),
                "not_counted": self.not_counted,
            },
            "write_actions": [a.to_dict() for a in self.writes],
            "denied_actions": [a.to_dict() for a in self.denied],
            "error_actions": [a.to_dict() for a in self.errors],
            "sign_ins": [s.to_dict() for s in self.sign_ins],
            "role_chaining": [c.to_dict() for c in self.chaining],
            "regions": dict(self.regions),
            "first_call": self.first_call,
            "last_call": self.last_call,
            "truncated": self.truncated,
            "final": self.final,
            "produced_at": self.produced_at,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ActivityReport:
        counts = data.get("counts", {})
        return cls(
            request_id=data["request_id"],
            person=data["person"],
            session_name=data["session_name"],
            role=data["role"],
            role_arn=data["role_arn"],
            window_start=data["window"]["start"],
            window_end=data["window"]["end"],
            regions_read=tuple(data.get("regions_read", ())),
            total=int(counts.get("calls", 0)),
            read_only=int(counts.get("read_only", 0)),
            writes=tuple(ActionCount.from_dict(a) for a in data.get("write_actions", ())),
            denied=tuple(ActionCount.from_dict(a) for a in data.get("denied_actions", ())),
            errors=tuple(ActionCount.from_dict(a) for a in data.get("error_actions", ())),
            sign_ins=tuple(SignIn.from_dict(s) for s in data.get("sign_ins", ())),
            chaining=tuple(ChainAttempt.from_dict(c) for c in data.get("role_chaining", ())),
            regions=tuple((r, int(n)) for r, n in data.get("regions", {}).items()),
            first_call=data.get("first_call"),
            last_call=data.get("last_call"),
            truncated=bool(data.get("truncated", False)),
            not_counted=int(counts.get("not_counted", 0)),
            final=bool(data.get("final", True)),
            produced_at=data.get("produced_at", ""),
        )

    def detail(self) -> dict:
        """What the ``access.activity_reported`` event carries: counts, write and denied
        actions, and whether the report is truncated."""
        found = self.to_dict()
        keep = ("request_id", "role", "role_arn", "window", "counts", "truncated", "final")
        return {
            **{k: found[k] for k in keep},
            "write_actions": found["write_actions"],
            "denied_actions": found["denied_actions"],
        }
