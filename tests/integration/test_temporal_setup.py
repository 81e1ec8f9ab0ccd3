"""`demandflow temporal-setup` on a server that knows none of our search attributes, as a real
cluster starts: it registers them, a second run changes nothing, a mistyped one is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.integration.test_cli_errors import assert_one_clear_line, run_cli
from workers.errors import ConfigError
from workers.stack.embedded import venv_binary
from workers.stack.temporal_server import SERVER_STARTUP_TIMEOUT
from workers.temporal_setup import register_search_attributes
from workflows import search_attributes


@pytest.fixture(scope="module")
async def bare_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server started with no search attribute flags."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        dev_server_startup_timeout=SERVER_STARTUP_TIMEOUT,
    )
    yield env
    await env.shutdown()


async def _custom(client: Client) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return dict(listed.custom_attributes)


async def test_the_command_registers_every_attribute_once(bare_server: WorkflowEnvironment) -> None:
    client = bare_server.client
    assert not set(await _custom(client)) & {k.name for k in search_attributes.ALL}
    address = client.service_client.config.target_host

    first = run_cli("temporal-setup", env={"TEMPORAL_ADDRESS": address})
    assert first.returncode == 0, first.stderr
    assert "registered DemandCategory" in first.stdout
    custom = await _custom(client)
    for key in search_attributes.ALL:
        assert custom[key.name] == key.indexed_value_type, key.name

    again = run_cli("temporal-setup", env={"TEMPORAL_ADDRESS": address})
    assert again.returncode == 0, again.stderr
    assert "already there" in again.stdout


async def test_an_attribute_of_another_type_is_refused(bare_server: WorkflowEnvironment) -> None:
    client = bare_server.client
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace="mistyped", workflow_execution_retention_period=timedelta(days=1)
        )
    )
    other = await Client.connect(client.service_client.config.target_host, namespace="mistyped")
    await other.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="mistyped",
            search_attributes={"DemandStage": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )
    with pytest.raises(ConfigError, match="DemandStage is registered as INDEXED_VALUE_TYPE_TEXT"):
        await register_search_attributes(other)
    assert "DemandUnit" not in await _custom(other)  # nothing half-added


def test_the_command_needs_an_address() -> None:
    assert_one_clear_line(run_cli("temporal-setup", env={}), "TEMPORAL_ADDRESS")
