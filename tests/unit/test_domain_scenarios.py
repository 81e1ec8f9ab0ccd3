"""The cases from DOMAIN.md, played through the decider as the workflow would."""

from datetime import datetime

from domain.collection import OpenNeedSummary, matches
from domain.commands import (
    Accept,
    Complete,
    Evaluate,
    LinkReport,
    NoteProgress,
    ProvideInformation,
    Submit,
    need_id_for,
)
from domain.model import (
    Actor,
    Category,
    Channel,
    Location,
    Outcome,
    Rating,
    RequesterKind,
    Role,
    ServiceMode,
    Stage,
    Tier,
    UnitKind,
)
from tests.unit.domain_kit import CST, POLICY, RESIDENT, Story, staff, submission, types


def test_retirement_question_is_resolved_at_grid_level_the_same_day():
    story = Story(now=datetime(2026, 6, 1, 9, 30, tzinfo=CST))
    ask = submission("下个月退休，请问怎么办理退休手续？", channel=Channel.WECHAT)
    assigned = story.submit(ask)[-1]
    assert (assigned.unit_id, assigned.unit_kind) == ("grid-dongting-1", UnitKind.GRID)
    grid_worker = staff("grid-dongting-1")
    story.later(minutes=10).run(Accept(), grid_worker)
    story.later(hours=1).run(NoteProgress(note="已联系区社保局"), grid_worker)
    story.later(hours=1).run(
        Complete(result_summary="回复政策和社保局电话", service_mode=ServiceMode.ONLINE),
        grid_worker,
    )
    closed = story.later(hours=2).run(
        Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT
    )[-1]
    assert (closed.outcome, closed.satisfied) == (Outcome.RESOLVED, True)
    assert story.state.completed_in_time is True and story.state.escalation_count == 0
    assert story.now.date() == datetime(2026, 6, 1).date()
    assert story.last("DemandClassified").category == Category.GOVERNMENT_AFFAIRS


def test_huading_health_certificates_go_to_the_health_department_and_many_parties_evaluate():
    story = Story(now=datetime(2026, 6, 2, 14, 0, tzinfo=CST))
    huading = Actor(id="ent-huading", role=Role.REQUESTER)
    need = submission(
        "1800名员工健康证需要换证，分布在约100个食堂",
        requester_id="ent-huading",
        kind=RequesterKind.ENTERPRISE,
        channel=Channel.JOINT_MEETING,
    )
    assert types(story.submit(need, huading))[-1] == "InformationRequested"
    assigned = story.later(hours=1).run(
        ProvideInformation(fields={"staff_count": "1800"}), huading
    )[-1]
    assert (assigned.unit_id, story.state.tier) == ("dept-health", Tier.STREET)
    health = staff("dept-health")
    story.later(hours=1).run(Accept(), health)
    story.later(days=2).run(
        Complete(
            result_summary="卫健局上门为员工集中体检，每月最后一个周二复检",
            service_mode=ServiceMode.ON_SITE,
        ),
        health,
    )
    reviewers = {
        "ent-huading": huading,
        "community-dongting": Actor(id="cc-1", role=Role.REVIEWER, unit="community-dongting"),
        "park-audit-hanzheng": Actor(id="pa-1", role=Role.REVIEWER, unit="park-audit-hanzheng"),
    }
    assert [r.reviewer_id for r in story.state.reviewers] == list(reviewers)
    for reviewer_id, actor in reviewers.items():
        story.later(hours=1).run(Evaluate(reviewer_id=reviewer_id, rating=Rating.SATISFIED), actor)
    assert story.state.stage == Stage.CLOSED and story.state.satisfied is True
    assert story.last("HandlingCompleted").service_mode == ServiceMode.ON_SITE


def test_hanzheng_street_sanitation_reported_by_several_people_is_handled_once():
    place = Location(
        street="street-hanzheng", community="community-xinhua", grid="grid-xinhua-1", building="857"
    )
    first = submission(
        "汉正街857号环境卫生脏乱差",
        requester_id="pm-1",
        kind=RequesterKind.PARTY_MEMBER,
        location=place,
        external_id="msg-1",
    )
    main = Story()
    main.submit(first, Actor(id="pm-1", role=Role.REQUESTER))
    open_need = OpenNeedSummary(
        stream_id=need_id_for(first.channel, first.external_id),
        category=main.state.category,
        place_key=place.place_key(),
        submitted_at=main.now,
    )
    for n in (2, 3):
        report = submission(
            "857号垃圾堆积没人清扫",
            requester_id=f"pm-{n}",
            kind=RequesterKind.PARTY_MEMBER,
            location=place,
            channel=Channel.WECHAT,
            external_id=f"msg-{n}",
        )
        later = main.now.replace(hour=11 + n)
        assert matches(open_need, report, POLICY, now=later)
        repeat = Story(now=later)
        merged = repeat.run(Submit(submission=report, duplicate_of=open_need.stream_id))
        assert types(merged) == ["DemandSubmitted", "DemandMerged", "DemandClosed"]
        main.at(later).run(
            LinkReport(
                linked_stream_id=need_id_for(report.channel, report.external_id),
                channel=report.channel,
                requester=report.requester,
            )
        )
    community = staff("community-xinhua")
    assert main.state.assigned_unit == "community-xinhua"
    main.run(Accept(), community)
    main.later(hours=3).run(
        Complete(result_summary="组织清扫并设置分类垃圾桶", service_mode=ServiceMode.ON_SITE),
        community,
    )
    assert [r.reviewer_id for r in main.state.reviewers] == ["pm-1", "pm-2", "pm-3"]
    for n in (1, 2, 3):
        main.run(
            Evaluate(reviewer_id=f"pm-{n}", rating=Rating.SATISFIED),
            Actor(id=f"pm-{n}", role=Role.REQUESTER),
        )
    assert main.state.outcome == Outcome.RESOLVED and main.state.satisfied is True
    assert sum(1 for e in main.history if e.type == "DemandAccepted") == 1
