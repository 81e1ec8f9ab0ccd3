import pytest

from domain.classification import classify
from domain.commands import Classify, Reclassify
from domain.errors import InvalidCommand, NotPermitted, WrongStage
from domain.model import Category, Channel, RequesterKind, Stage, Tier, Urgency
from tests.unit.domain_kit import DISPATCHER, POLICY, RESIDENT, Story, staff, submission, types

R = RequesterKind


@pytest.mark.parametrize(
    ("text", "kind", "category", "tier", "rule"),
    [
        (
            "下个月退休，怎么申请养老金？",
            R.RESIDENT,
            Category.GOVERNMENT_AFFAIRS,
            Tier.GRID,
            "retirement",
        ),
        (
            "How do I apply when I retire?",
            R.RESIDENT,
            Category.GOVERNMENT_AFFAIRS,
            Tier.GRID,
            "retirement",
        ),
        (
            "员工健康证到期需要换证",
            R.ENTERPRISE,
            Category.ENTERPRISE_AFFAIRS,
            Tier.STREET,
            "health-certificate",
        ),
        (
            "Staff health certificate renewal",
            R.ENTERPRISE,
            Category.ENTERPRISE_AFFAIRS,
            Tier.STREET,
            "health-certificate",
        ),
        (
            "汉正街857号环境卫生差",
            R.PARTY_MEMBER,
            Category.DAILY_LIFE,
            Tier.COMMUNITY,
            "sanitation",
        ),
        (
            "Garbage piling up by the gate",
            R.RESIDENT,
            Category.DAILY_LIFE,
            Tier.COMMUNITY,
            "sanitation",
        ),
        ("楼下路灯不亮", R.RESIDENT, Category.DAILY_LIFE, Tier.GRID, "street-lamp"),
        ("想咨询律师合同纠纷", R.RESIDENT, Category.LEGAL, Tier.COMMUNITY, "legal-aid"),
        (
            "我的微心愿：一个亮灯的篮球场",
            R.WORKER,
            Category.WORKER_CARE,
            Tier.STREET,
            "worker-care",
        ),
        ("孩子的微心愿", R.RESIDENT, Category.CARE, Tier.COMMUNITY, "micro-wish"),
        ("人才公寓申请", R.TALENT, Category.TALENT, Tier.STREET, "talent"),
        (
            "开具增值税发票",
            R.ENTERPRISE,
            Category.ENTERPRISE_AFFAIRS,
            Tier.STREET,
            "enterprise-tax",
        ),
    ],
)
def test_keyword_rules_classify_chinese_and_english_texts(text, kind, category, tier, rule):
    found = classify(text, kind, Channel.APP, None, POLICY)
    assert (found.category, found.tier, found.rule_id) == (category, tier, rule)


def test_requester_kind_filters_rules():
    resident = classify("开具增值税发票", R.RESIDENT, Channel.APP, None, POLICY)
    enterprise = classify("开具增值税发票", R.ENTERPRISE, Channel.APP, None, POLICY)
    assert enterprise.rule_id == "enterprise-tax"
    assert resident is None or resident.rule_id != "enterprise-tax"


def test_urgent_keywords_raise_the_urgency():
    found = classify("紧急！路灯电线漏电危险", R.RESIDENT, Channel.APP, None, POLICY)
    assert found.urgency == Urgency.URGENT


@pytest.mark.parametrize(
    "text",
    ["电梯卡在两层之间，我妈被关在里面出不来", "楼道里一股煤气味，怕是哪家漏气了", "配电箱冒烟了"],
)
def test_a_person_trapped_or_gas_or_smoke_is_urgent(text):
    found = classify(text, R.RESIDENT, Channel.APP, None, POLICY)
    assert found is not None and found.urgency == Urgency.URGENT


@pytest.mark.parametrize(
    "text",
    [
        "电梯按钮不灵，要按好几下",
        "燃气灶打不着火，是不是没气了",  # 着火 inside 打不着火
        "消防通道停满了车，真要着火了消防车进不来",  # a fear, not a fire
        "社区活动室被关了一个月",  # a room closed, nobody shut in
        "楼下烧烤摊冒烟，熏得开不了窗",  # smoke of a stall
        "上个月家里失火了，想问临时救助",  # a past fire: hardship, not an emergency
    ],
)
def test_an_ordinary_report_is_not_urgent(text):
    found = classify(text, R.RESIDENT, Channel.APP, None, POLICY)
    assert found is not None and found.urgency != Urgency.URGENT


def test_a_category_hint_adds_confidence_to_rules_of_that_category():
    plain = classify("想咨询社保", R.RESIDENT, Channel.APP, None, POLICY)
    hinted = classify("想咨询社保", R.RESIDENT, Channel.APP, Category.GOVERNMENT_AFFAIRS, POLICY)
    assert hinted.confidence == pytest.approx(plain.confidence + 0.1)


def test_a_confident_rule_classifies_with_its_rule_id_and_policy_version():
    story = Story()
    classified = story.submit(submission("楼下路灯不亮"))[1]
    assert classified.type == "DemandClassified"
    assert (classified.rule_id, classified.policy_version) == ("street-lamp", POLICY.version)
    assert classified.manual is False


def test_no_matching_rule_asks_the_communitys_dispatcher():
    story = Story()
    events = story.submit(submission("xyzzy"))  # no item's words, nothing the model knows
    assert types(events) == ["DemandSubmitted", "ClassificationRequested"]
    assert events[1].reason == "no_rule" and events[1].dispatcher_unit == "community-dongting"
    assert story.state.stage == Stage.CLASSIFICATION


@pytest.mark.parametrize(
    "text", ["有个问题想问问", "有个事情想咨询一下", "有件事想反映一下，不知道找谁"]
)
def test_a_vague_report_goes_to_the_dispatcher_with_the_learned_models_guess(text):
    """Words of every item are left out of the model, and a guess resting on fewer than
    `min_support` known features is weaker: 咨询 alone is no legal question yet."""
    story = Story()
    events = story.submit(submission(text))
    assert types(events) == ["DemandSubmitted", "ClassificationRequested"]
    asked = events[1]
    assert asked.reason == "low_confidence" and asked.best_guess is not None
    assert 0 < asked.confidence < POLICY.classification.confidence_threshold
    assert asked.matched_terms and all(t.startswith("≈") for t in asked.matched_terms)


def test_a_weak_rule_below_the_threshold_asks_the_dispatcher():
    story = Story()
    events = story.submit(submission("企业有个困难", requester_id="ent-1", kind=R.ENTERPRISE))
    assert events[1].type == "ClassificationRequested"
    assert events[1].reason == "low_confidence"
    assert events[1].confidence < POLICY.classification.confidence_threshold


def test_the_dispatcher_classifies_by_hand_and_the_need_is_routed():
    story = Story()
    story.submit(submission("有个问题想问问"))
    events = story.run(Classify(category=Category.CARE, tier=Tier.GRID), DISPATCHER)
    assert types(events) == ["DemandClassified", "DemandAssigned"]
    assert events[0].manual and events[0].rule_id == "manual"
    assert events[1].unit_id == "grid-dongting-1"


def test_only_dispatchers_classify_by_hand():
    story = Story()
    story.submit(submission("有个问题想问问"))
    with pytest.raises(NotPermitted, match=r"actor\.role|Classify"):
        story.run(Classify(category=Category.CARE, tier=Tier.GRID), RESIDENT)


def test_classify_is_refused_once_the_need_is_assigned():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    with pytest.raises(WrongStage, match="Classify"):
        story.run(Classify(category=Category.CARE, tier=Tier.GRID), DISPATCHER)


def test_reclassifying_before_acceptance_reroutes_to_the_new_target():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    command = Reclassify(category=Category.DAILY_LIFE, tier=Tier.COMMUNITY, reason="整条路的路灯")
    events = story.run(command, DISPATCHER)
    assert types(events) == ["DemandReclassified", "DemandAssigned"]
    assert events[0].previous_tier == Tier.GRID
    assert events[1].unit_id == "community-dongting"


def test_reclassifying_during_handling_is_recorded_without_moving_the_need():
    from domain.commands import Accept

    story = Story()
    story.submit(submission("楼下路灯不亮"))
    story.run(Accept(), staff("grid-dongting-1"))
    command = Reclassify(
        category=Category.DAILY_LIFE, tier=Tier.GRID, urgency=Urgency.URGENT, reason="电线裸露"
    )
    assert types(story.run(command, DISPATCHER)) == ["DemandReclassified"]
    assert story.state.assigned_unit == "grid-dongting-1"


def test_reclassifying_to_the_same_values_is_refused():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    same = Reclassify(category=Category.DAILY_LIFE, tier=Tier.GRID, reason="no change")
    with pytest.raises(InvalidCommand, match="category"):
        story.run(same, DISPATCHER)


def test_a_remembered_classification_is_the_one_computed_and_policies_do_not_share_it():
    """The worker's memo (domain.classification._remembered) answers what the matcher
    answers, and a copy of the policy with other words under the same version gets its own."""
    from domain.classification import classify_words

    text = "电梯坏了三天，老人下不了楼"
    fresh = classify_words(text, "", None, None, None, POLICY)
    assert classify(text, None, None, None, POLICY, title=text) == fresh
    assert classify(text, None, None, None, POLICY, title=text) == fresh  # remembered
    rules = [
        r.model_copy(update={"keywords": [], "hints": []}) if r.id == "lift" else r
        for r in POLICY.classification.rules
    ]
    # (and no learned model, which reads 电梯 as a lift whatever the rules say)
    settings = POLICY.classification.model_copy(update={"rules": rules, "learned": None})
    other = POLICY.model_copy(update={"classification": settings})
    assert other.version == POLICY.version
    found = classify(text, None, None, None, other, title=text)
    assert found is None or found.rule_id != "lift"
