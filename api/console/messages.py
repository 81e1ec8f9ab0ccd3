"""The console's labels: one catalogue (zh_CN.yaml), looked up by section and key."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOGUE = Path(__file__).with_name("zh_CN.yaml")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    raw: dict[str, dict[Any, str]] = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return {
        section: {str(k).lower() if isinstance(k, bool) else str(k): v for k, v in entries.items()}
        for section, entries in raw.items()
    }


def t(section: str, key: object, **values: object) -> str:
    """The label of `key` in `section`, formatted with `values`; the key itself when the
    catalogue has none (a missing label shows, it never breaks a page)."""
    if key is None:
        return catalogue()["page"]["none"]
    name = str(key).lower() if isinstance(key, bool) else str(getattr(key, "value", key))
    text = catalogue().get(section, {}).get(name, name)
    return text.format(**values) if values else text
