"""IAM clients for roles in other accounts: through each account's manager role, assumed on
first use and again before its credentials run out (one cache per process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.aws import clients as aws
from chalicelib.core.errors import AwsUnavailable

MANAGER_SESSION_NAME = "switchback-broker"  # what CloudTrail in the other account shows
MANAGER_SESSION_SECONDS = 3600
REFRESH_MARGIN_SECONDS = 300  # assume again this long before the credentials run out


class AccountClients:
    """The IAM client for a role: the broker's own, or, for a role in another account, one
    signed with the credentials of that account's manager role, assumed on first use and again
    before they expire."""

    def __init__(
        self,
        home: Any,
        managers: dict[str, str],
        make_client: Callable[..., Any] = aws.client,
        clock: Callable[[], float] = time.time,
    ):
        self._home = home
        self._managers = managers  # role ARN -> manager role ARN
        self._make_client = make_client
        self._clock = clock
        self._assumed: dict[str, tuple[Any, float]] = {}  # manager ARN -> (client, expires)
        self._lock = threading.Lock()

    def __call__(self, role_arn: str) -> Any:
        manager = self._managers.get(role_arn)
        if manager is None:
            return self._home
        with self._lock:
            client, expires = self._assumed.get(manager, (None, 0.0))
            if client is None or self._clock() >= expires - REFRESH_MARGIN_SECONDS:
                client, expires = self._assume(manager)
                self._assumed[manager] = (client, expires)
            return client

    def _assume(self, manager: str) -> tuple[Any, float]:
        credentials = assume_manager(self._make_client, manager)
        client = self._make_client(
            "iam",
            assumed_role=manager,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return client, credentials["Expiration"].timestamp()


def assume_manager(make_client: Callable[..., Any], manager: str) -> dict:
    """STS credentials of the manager role ``manager`` (``Credentials`` of AssumeRole)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = make_client("sts").assume_role(
            RoleArn=manager,
            RoleSessionName=MANAGER_SESSION_NAME,
            DurationSeconds=MANAGER_SESSION_SECONDS,
        )
    except (ClientError, BotoCoreError) as error:
        # Retried by the next sweep; a missing or mis-trusting spoke stack says so here.
        raise AwsUnavailable(f"cannot assume the manager role {manager}: {error}") from error
    return answer["Credentials"]
