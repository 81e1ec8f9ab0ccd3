"""The custom search attributes of a need: the one place their names and types live.

The dev server registers them at start (`--search-attribute NAME=TYPE`); the workflow
upserts them; supervisors filter by them in the Temporal UI. None carries personal data.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("DemandStage")
CATEGORY = SearchAttributeKey.for_keyword("DemandCategory")
TIER = SearchAttributeKey.for_keyword("DemandTier")
UNIT = SearchAttributeKey.for_keyword("DemandUnit")
CHANNEL = SearchAttributeKey.for_keyword("DemandChannel")
DUE_AT = SearchAttributeKey.for_datetime("DemandDueAt")
OVERDUE = SearchAttributeKey.for_bool("DemandOverdue")

ALL = (STAGE, CATEGORY, TIER, UNIT, CHANNEL, DUE_AT, OVERDUE)

_CLI_TYPE = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "BOOL": "Bool"}


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags registering every attribute above."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE[key.indexed_value_type.name]}"]
    return flags
