"""Every contract test runs twice: on the DynamoDB store against moto, and on the fakes."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.aws.store import Store, table_definition
from testkit.fakes import FakeStore


@pytest.fixture(params=["dynamodb", "fake"])
def store(request: pytest.FixtureRequest) -> Store | FakeStore:
    if request.param == "fake":
        return FakeStore()
    request.getfixturevalue("aws")  # a clean moto account
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("contract"))
    return Store(client, "contract")
