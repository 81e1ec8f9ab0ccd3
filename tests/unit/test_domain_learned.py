"""The classifier learned from the labelled tuning reports (domain/learned.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.train_classifier import labelled
from domain import learned
from domain.learned import ModelError, dumps, parse, train

ROOT = Path(__file__).resolve().parents[2]
REPORTS = [
    ("路灯不亮了", "门口的路灯坏了好几天，晚上黑漆漆的", "street-lamp"),
    ("楼道灯坏了", "三楼楼道灯不亮，上下楼看不见", "street-lamp"),
    ("下水道堵了", "厨房下水道堵住了，水排不下去", "drainage"),
    ("小区门口积水", "一下雨就积水，排水口被树叶堵住", "drainage"),
    ("养老金怎么领", "明年退休，想问养老金去哪里办", "retirement"),
]


def model() -> learned.Model:
    return parse(dumps(train(REPORTS)))


def test_the_likeliest_item_wins_and_the_features_that_spoke_are_named():
    guess = model().guess("晚上路口黑漆漆的", "灯一直不亮")
    assert guess is not None
    assert guess.item == "street-lamp"
    assert 0.5 < guess.probability <= 1.0
    assert guess.features and all(
        f in learned.features("晚上路口黑漆漆的", "灯一直不亮") for f in guess.features
    )


def test_a_report_sharing_nothing_with_the_training_reports_gets_no_guess():
    assert model().guess("qwerty", "zzz") is None


def test_only_allowed_items_are_guessed_and_their_probabilities_are_among_them():
    everything = model().guess("水排不下去", "")
    assert everything is not None and everything.item == "drainage"
    restricted = model().guess("水排不下去", "", allowed=["street-lamp", "retirement"])
    assert restricted is not None and restricted.item in {"street-lamp", "retirement"}
    assert model().guess("水排不下去", "", allowed=[]) is None


def test_training_is_a_pure_function_of_the_reports():
    assert dumps(train(REPORTS)) == dumps(train(list(REPORTS)))
    assert dumps(train(REPORTS)) != dumps(train(REPORTS[:-1]))


def test_a_model_is_loaded_by_name_and_digest_only():
    policy = yaml.safe_load((ROOT / "deploy" / "policy.yaml").read_text(encoding="utf-8"))
    named = policy["classification"]["learned"]
    assert learned.load(named["model"], named["sha256"]).items
    with pytest.raises(ModelError, match="sha256"):
        learned.load(named["model"], "0" * 16)
    with pytest.raises(ModelError, match="not in domain/models"):
        learned.load("missing.json", named["sha256"])
    with pytest.raises(ModelError, match="file name"):
        learned.load("../../deploy/policy.yaml", named["sha256"])


@pytest.mark.parametrize("file", ["policy.yaml", "policy-fast.yaml"])
def test_the_shipped_model_is_what_training_on_the_tuning_part_gives(file):
    """Built at build time from tests/data/needs_tune.yaml and nothing else: retraining gives
    the very bytes the policy names (`make classifier`, bench/train_classifier.py)."""
    policy = yaml.safe_load((ROOT / "deploy" / file).read_text(encoding="utf-8"))
    named = policy["classification"]["learned"]
    raw = dumps(train(labelled(ROOT / "tests" / "data" / "needs_tune.yaml")))
    assert learned.digest(raw) == named["sha256"]
    shipped = ROOT / "domain" / "models" / named["model"]
    assert shipped.read_bytes() == raw


def test_a_policy_naming_a_model_that_is_not_shipped_is_refused_at_load():
    from domain.policy import load_policy

    text = (ROOT / "deploy" / "policy.yaml").read_text(encoding="utf-8")
    named = yaml.safe_load(text)["classification"]["learned"]
    with pytest.raises(ValueError, match=r"missing\.json"):
        load_policy(text.replace(named["model"], "missing.json"))
    with pytest.raises(ValueError, match="the policy says"):
        load_policy(text.replace(named["sha256"], "f" * 16))
