"""The console names every rule an event can cite (pure: the catalogue and the policies)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.console.messages import rule_name
from domain.model import Category, Urgency
from domain.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[2]
# A rule id written whole in the domain's code: "routing.first_receiver", not an f-string.
LITERAL_RULE = re.compile(r'"((?:routing|collection|sla|evaluation|handling)(?:\.[a-z_]+)+)"')


def _literal_rule_ids() -> set[str]:
    found = set()
    for source in (ROOT / "domain").glob("*.py"):
        found |= set(LITERAL_RULE.findall(source.read_text(encoding="utf-8")))
    return found


def _rule_ids_from(policy: Policy) -> set[str]:
    ids = {r.id for r in policy.classification.rules}
    ids |= {f"routing.rule.{r.id}" for r in policy.classification.rules}
    ids |= {f"collection.repeats.{r.id}" for r in policy.classification.rules}
    ids |= {f"routing.category.{c}" for c in policy.routing.category_units}
    # a possible repeat of a report no rule classified names its category, or unclassified
    ids |= {f"collection.repeats.{c.value}" for c in Category} | {"collection.repeats.unclassified"}
    ids |= {f"sla.levels.{u.value}" for u in Urgency}
    ids |= {
        f"sla.handling.{category}.{tier}.{urgency}"
        for category, tiers in policy.sla.handling.items()
        for tier, urgencies in tiers.items()
        for urgency in urgencies
    }
    ids.add(f"collection.information_expiry.{policy.collection.on_information_expiry}")
    return ids


@pytest.mark.parametrize("file", ["policy.yaml", "policy-fast.yaml"])
def test_every_rule_an_event_can_name_has_a_chinese_name(file: str) -> None:
    policy = load_policy((ROOT / "deploy" / file).read_bytes())
    ids = _literal_rule_ids() | _rule_ids_from(policy) | {"manual"}
    assert "routing.first_receiver" in ids and "sla.escalation.ladder" in ids  # the scan works
    unnamed = {i: rule_name(i) for i in ids if re.search(r"[A-Za-z{}]", rule_name(i))}
    assert unnamed == {}


def test_a_rule_with_a_value_is_named_with_the_value_named() -> None:
    assert rule_name("routing.rule.lift") == "事项“电梯”的承办单位"
    assert rule_name("routing.category.care") == "类别“关爱帮扶”的承办单位"
    assert rule_name("sla.handling.daily_life.grid.urgent") == "办理时限：生活服务·网格·紧急"
    assert rule_name("collection.information_expiry.close") == "补充信息逾期：办结"
    assert rule_name("lift") == "电梯"  # a classification rule: its item
    assert rule_name("collection.repeats.care") == "重复判断：关爱帮扶"  # no item: the category
    assert rule_name("sla.handling.default") == "默认办理时限"  # exact before prefix


def test_an_unknown_rule_shows_as_written() -> None:
    assert rule_name("routing.someday.rule") == "routing.someday.rule"
    assert rule_name("routing.rule.a.b") == "routing.rule.a.b"  # not the shape of routing.rule.*
    assert rule_name(None) == "—"
