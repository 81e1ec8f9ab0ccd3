"""Preparing a Temporal namespace for demandflow: the search attributes a need upserts.

The embedded dev server registers them with start-up flags; a real cluster (the official Helm
chart, Temporal Cloud) knows none until told. `demandflow temporal-setup` tells it: it adds
what is missing, leaves what is there, and refuses a name registered with another type
(changing a type means a new attribute; Temporal cannot retype one in place).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from workers.errors import ConfigError
from workflows import search_attributes


async def register_search_attributes(client: Client) -> list[str]:
    """Add the search attributes the namespace lacks; the names added (none: all there)."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    present = dict(listed.custom_attributes)
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in search_attributes.ALL:
        wanted = key.indexed_value_type
        have = present.get(key.name)
        if have is None:
            missing[key.name] = wanted
        elif have != wanted:
            raise ConfigError(
                f"search attribute {key.name} is registered as {IndexedValueType.Name(have)} in "
                f"namespace {client.namespace}, demandflow needs {IndexedValueType.Name(wanted)}; "
                "remove it with `temporal operator search-attribute remove` first"
            )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)
