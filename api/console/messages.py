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


# Rule ids that carry a value after a known prefix, longest prefix first, and the name of
# the value's section in the catalogue: ("routing.rule.", "item") reads "routing.rule.lift".
_RULE_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sla.handling.", ("category", "tier", "urgency")),
    ("collection.information_expiry.", ("expiry_action",)),
    ("collection.repeats.", ("item|category",)),  # the item, else the category's name
    ("routing.category.", ("category",)),
    ("routing.rule.", ("item",)),
    ("sla.levels.", ("urgency",)),
)


def _named(sections: str, key: str) -> str:
    """`key`'s label in the first of `sections` ("item|category") that has one."""
    for section in sections.split("|"):
        if key in catalogue().get(section, {}):
            return t(section, key)
    return key


def rule_name(rule_id: object) -> str:
    """What a timeline shows for an event's `rule_id`: a classification rule's item name,
    a named policy rule (`rule` section), or a rule with a value (routing.rule.lift: the
    item's unit); an unknown id shows as written."""
    if rule_id is None:
        return t("page", "none")
    key = str(rule_id)
    rules, items = catalogue().get("rule", {}), catalogue().get("item", {})
    if key in rules:
        return rules[key]
    if key in items:
        return items[key]
    for prefix, sections in _RULE_PREFIXES:
        parts = key.removeprefix(prefix).split(".")
        if key.startswith(prefix) and len(parts) == len(sections):
            values = {s: _named(s, part) for s, part in zip(sections, parts, strict=True)}
            return t("rule", f"{prefix}*", **values)
    return key
