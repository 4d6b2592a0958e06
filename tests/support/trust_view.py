"""Reading a trust policy as a test needs it: who this deployment's statements trust."""

from __future__ import annotations

from chalicelib.core.trust import deployment_tag, is_ours, trusted

TABLE = "switchback"  # the table every local test stack uses (SWITCHBACK_TABLE)


def trusted_users(policy: dict, table: str = TABLE) -> list[str]:
    """IAM user names trusted through the statements of the deployment on ``table``."""
    return sorted(
        arn.rsplit("/", 1)[1]
        for arn in trusted(policy, deployment_tag(table))
        if arn.startswith("arn:")
    )


def our_statements(policy: dict, table: str = TABLE) -> list[dict]:
    found = policy.get("Statement", [])
    found = [found] if isinstance(found, dict) else found
    return [s for s in found if is_ours(s, deployment_tag(table))]


class _AnyOurSid:
    """Equal to any Sid the deployment on ``TABLE`` writes (Sids name an end, not a request)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and is_ours({"Sid": other}, deployment_tag(TABLE))

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<a Sid of this deployment>"


OUR_SID = _AnyOurSid()
