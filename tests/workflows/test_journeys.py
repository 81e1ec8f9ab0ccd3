"""Whole journeys of needs on the dev server (update-heavy), the scenarios from DOMAIN.md.

After each journey the state folded from the stored events must equal the workflow's own
query answer: the audit trail and the live workflow never disagree.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.commands import (
    Accept,
    Complete,
    Evaluate,
    NoteProgress,
    ProvideInformation,
    ResolvePossibleRepeat,
    Submission,
    UnlinkReport,
)
from domain.model import (
    Actor,
    Channel,
    Location,
    Outcome,
    Rating,
    Requester,
    RequesterKind,
    Role,
    ServiceMode,
    Stage,
)
from domain.repeats import split_id
from tests.unit.domain_kit import summary_of
from tests.workflows.conftest import Needs, handle

DONGTING_1 = Location(
    street="street-hanzheng",
    community="community-dongting",
    grid="grid-dongting-1",
    building="b7",
    address="洞庭街 7 号",
)


def staff(unit: str) -> Actor:
    return Actor(id=f"staff-{unit}", role=Role.STAFF, unit=unit)


def a_need(
    title: str,
    *,
    requester: str = "res-1",
    kind: RequesterKind = RequesterKind.RESIDENT,
    channel: Channel = Channel.APP,
    location: Location | None = None,
    details: dict[str, str] | None = None,
) -> Submission:
    """A fresh need; unless a location is given, a building of its own, so needs of
    different tests never count as repeated reports of each other."""
    location = location or DONGTING_1.model_copy(update={"building": f"b-{uuid.uuid4().hex[:8]}"})
    return Submission(
        channel=channel,
        external_id=f"ext-{uuid.uuid4().hex}",
        title=title,
        requester=Requester(requester_id=requester, kind=kind, name="王小明", phone="13812345678"),
        location=location,
        details=details or {},
    )


async def assert_store_agrees(n: Needs, need_id: str) -> None:
    snap = await n.snapshot(need_id)
    folded = await n.folded(need_id)
    assert folded == snap.state
    stored = await n.stored(need_id)
    assert [e.version for e in stored] == list(range(1, len(stored) + 1))
    assert [e.type for e in stored] == [t.type for t in snap.timeline]
    row = await n.store.need_summary(need_id)  # the row the appends folded, as the state reads
    expected = summary_of(snap.state)
    assert {k: row[k] for k in expected} == expected
    assert snap.overdue == snap.state.overdue  # the query and the search attribute's source


async def test_retirement_question_is_resolved_at_grid_level(dev_needs: Needs) -> None:
    n = dev_needs
    need_id = await n.submit(a_need("下个月退休，请问怎么办理退休手续？", channel=Channel.WECHAT))
    snap = await n.wait_for(need_id, lambda s: s.state.stage == Stage.ASSIGNMENT)
    assert snap.state.assigned_unit == "grid-dongting-1"
    grid = staff("grid-dongting-1")
    assert (await n.act(need_id, grid, Accept())).stage == "handling"
    await n.act(need_id, grid, NoteProgress(note="已联系区社保局"))
    result = await n.act(
        need_id,
        grid,
        Complete(result_summary="回复政策和社保局电话", service_mode=ServiceMode.ONLINE),
    )
    assert result.stage == "evaluation"
    resident = Actor(id="res-1", role=Role.REQUESTER)
    done = await n.act(need_id, resident, Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED))
    assert done.stage == "closed" and done.events[-1] == "DemandClosed"
    final = await handle(need_id, n).result()
    assert final.state.outcome == Outcome.RESOLVED and final.state.satisfied is True
    await assert_store_agrees(n, need_id)
    actors = {e.type: (e.actor.role.value, e.actor.unit) for e in await n.stored(need_id)}
    assert actors["DemandSubmitted"] == ("integrator", None)
    assert actors["DemandClassified"] == actors["DemandAssigned"] == ("system", None)
    assert actors["DemandAccepted"] == ("staff", "grid-dongting-1")
    assert actors["EvaluationSubmitted"] == ("requester", None)
    await n.record_history(need_id, "retirement_question")


async def test_a_report_no_words_name_is_classified_by_the_learned_model(dev_needs: Needs) -> None:
    """水顺着墙往下流 names no item surely: the learned classifier (domain/learned.py) reads a
    leak, the grid handles it. Its recorded history replays the learned path (tests/replay)."""
    n = dev_needs
    need_id = await n.submit(a_need("水顺着墙往下流，家里到处湿漉漉", channel=Channel.WECHAT))
    snap = await n.wait_for(need_id, lambda s: s.state.stage == Stage.ASSIGNMENT)
    assert snap.state.classification_rule == "water-leak"
    assert snap.state.assigned_unit == "grid-dongting-1"
    classified = next(e.event() for e in await n.stored(need_id) if e.type == "DemandClassified")
    assert classified.matched_terms and all(t.startswith("≈") for t in classified.matched_terms)
    grid = staff("grid-dongting-1")
    await n.act(need_id, grid, Accept())
    await n.act(
        need_id,
        grid,
        Complete(result_summary="上门查看，楼上水管已修", service_mode=ServiceMode.ON_SITE),
    )
    resident = Actor(id="res-1", role=Role.REQUESTER)
    done = await n.act(need_id, resident, Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED))
    assert done.stage == "closed"
    await n.record_history(need_id, "learned_classification")


async def test_a_refused_action_names_the_reason_and_leaves_no_trace(dev_needs: Needs) -> None:
    n = dev_needs
    need_id = await n.submit_assigned(a_need("路灯坏了，晚上很黑"))
    before = await n.stored(need_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await n.act(need_id, staff("dept-health"), Accept())
    assert "grid-dongting-1" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as wrong_stage:
        await n.act(
            need_id,
            staff("grid-dongting-1"),
            Complete(result_summary="done", service_mode=ServiceMode.ON_SITE),
        )
    assert "stage" in str(wrong_stage.value.cause)
    assert await n.stored(need_id) == before


async def test_huading_health_certificates_need_information_then_many_reviewers(
    dev_needs: Needs,
) -> None:
    n = dev_needs
    huading = Actor(id="ent-huading", role=Role.REQUESTER)
    need_id = await n.submit(
        a_need(
            "1800名员工健康证需要换证",
            requester="ent-huading",
            kind=RequesterKind.ENTERPRISE,
            channel=Channel.JOINT_MEETING,
        )
    )
    snap = await n.wait_for(need_id, lambda s: s.state.pending_information is not None)
    assert list(snap.state.pending_information.missing_fields) == ["staff_count"]
    await n.act(need_id, huading, ProvideInformation(fields={"staff_count": "1800"}))
    snap = await n.snapshot(need_id)
    assert snap.state.assigned_unit == "dept-health"
    health = staff("dept-health")
    await n.act(need_id, health, Accept())
    await n.act(
        need_id,
        health,
        Complete(result_summary="卫健局上门集中体检", service_mode=ServiceMode.ON_SITE),
    )
    snap = await n.snapshot(need_id)
    reviewers = [r.reviewer_id for r in snap.state.reviewers]
    assert reviewers == ["ent-huading", "community-dongting", "park-audit-hanzheng"]
    for reviewer_id in reviewers:
        actor = (
            huading
            if reviewer_id == "ent-huading"
            else Actor(id=f"rev-{reviewer_id}", role=Role.REVIEWER, unit=reviewer_id)
        )
        await n.act(need_id, actor, Evaluate(reviewer_id=reviewer_id, rating=Rating.SATISFIED))
    final = await handle(need_id, n).result()
    assert final.state.stage == Stage.CLOSED and final.state.satisfied is True
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "huading_health_certificates")


async def test_hanzheng_sanitation_reported_by_three_people_is_handled_once(
    dev_needs: Needs,
) -> None:
    n = dev_needs
    place = Location(
        street="street-hanzheng",
        community="community-xinhua",
        grid="grid-xinhua-1",
        building=f"857-{uuid.uuid4().hex[:6]}",
    )
    first = await n.submit(
        a_need(
            # the repeats say 垃圾 too: a sure repeat shares a word of its item with its need
            # (policy same_specifics; 环境卫生 against 垃圾 alone is a possible repeat)
            "汉正街857号门口垃圾成堆，环境卫生脏乱差",
            requester="pm-1",
            kind=RequesterKind.PARTY_MEMBER,
            location=place,
        )
    )
    await n.wait_for(first, lambda s: s.state.stage == Stage.ASSIGNMENT)
    repeats = [
        await n.submit(
            a_need(
                "857号门口垃圾没人清扫",
                requester=f"pm-{i}",
                kind=RequesterKind.PARTY_MEMBER,
                location=place,
            )
        )
        for i in (2, 3)
    ]
    for repeat in repeats:
        merged = await handle(repeat, n).result()
        assert merged.state.outcome == Outcome.MERGED and merged.state.merged_into == first
    snap = await n.wait_for(first, lambda s: len(s.state.linked_reports) == 2)
    community = staff("community-xinhua")
    await n.act(first, community, Accept())
    await n.act(
        first,
        community,
        Complete(result_summary="组织清扫并设置垃圾桶", service_mode=ServiceMode.ON_SITE),
    )
    snap = await n.snapshot(first)
    assert sorted(r.reviewer_id for r in snap.state.reviewers) == ["pm-1", "pm-2", "pm-3"]
    for i in (1, 2, 3):
        await n.act(
            first,
            Actor(id=f"pm-{i}", role=Role.REQUESTER),
            Evaluate(reviewer_id=f"pm-{i}", rating=Rating.SATISFIED),
        )
    final = await handle(first, n).result()
    assert final.state.outcome == Outcome.RESOLVED
    await assert_store_agrees(n, first)
    await n.record_history(first, "hanzheng_sanitation_primary")
    await n.record_history(repeats[0], "hanzheng_sanitation_repeat")


async def test_three_reports_of_one_need_at_the_same_moment_are_handled_once(
    dev_needs: Needs,
) -> None:
    """None of them is in need_summary yet when the others look: their intake claims are."""
    n = dev_needs
    place = Location(
        street="street-hanzheng",
        community="community-xinhua",
        grid="grid-xinhua-1",
        building=f"857-{uuid.uuid4().hex[:6]}",
    )
    ids = await asyncio.gather(
        *(
            n.submit(
                a_need(
                    "857号门口垃圾没人清扫",
                    requester=f"pm-{i}",
                    kind=RequesterKind.PARTY_MEMBER,
                    location=place,
                )
            )
            for i in range(3)
        )
    )
    finals = {}
    for need_id in ids:
        snap = await n.wait_for(
            need_id, lambda s: s.state.stage in (Stage.ASSIGNMENT, Stage.CLOSED)
        )
        finals[need_id] = snap.state
    open_ones = [i for i, s in finals.items() if s.stage == Stage.ASSIGNMENT]
    assert len(open_ones) == 1, {i: s.stage for i, s in finals.items()}
    primary = open_ones[0]
    merged = [s for i, s in finals.items() if i != primary]
    assert [(s.outcome, s.merged_into) for s in merged] == [(Outcome.MERGED, primary)] * 2
    snap = await n.wait_for(primary, lambda s: len(s.state.linked_reports) == 2)
    assert len(snap.state.linked_reports) == 2


async def test_a_possible_repeat_linked_by_a_dispatcher_joins_the_need(dev_needs: Needs) -> None:
    """Two grid-only reports of one problem: the second is flagged, not merged; the
    community's dispatcher links it, and the first need records the link."""
    n = dev_needs
    grid = Location(street="street-hanzheng", community="community-qinghe", grid="grid-qinghe-1")
    tag = uuid.uuid4().hex[:6]
    first = await n.submit(
        a_need(f"菜场{tag}门口路灯坏了，晚上很黑", requester="res-a", location=grid)
    )
    await n.wait_for(first, lambda s: s.state.stage == Stage.ASSIGNMENT)
    second = await n.submit(
        a_need(f"菜场{tag}门口的路灯不亮，晚上很黑", requester="res-b", location=grid)
    )
    flagged = await n.wait_for(second, lambda s: s.state.stage == Stage.ASSIGNMENT)
    assert flagged.state.possible_repeat_of == first and flagged.state.merged_into is None
    dispatcher = Actor(id="disp-qinghe", role=Role.DISPATCHER, unit="community-qinghe")
    await n.act(second, dispatcher, ResolvePossibleRepeat(decision="link"))
    merged = await handle(second, n).result()
    assert merged.state.outcome == Outcome.MERGED and merged.state.merged_into == first
    linked = await n.wait_for(first, lambda s: second in s.state.linked_reports)
    assert {r.requester_id for r in linked.state.requesters} == {"res-a", "res-b"}
    await assert_store_agrees(n, first)
    await n.record_history(first, "possible_repeat_primary")
    await n.record_history(second, "possible_repeat_linked")


async def test_a_lamp_reported_with_a_street_only_is_asked_where_then_routed(
    dev_needs: Needs,
) -> None:
    n = dev_needs
    need = await n.submit(a_need("路灯坏了，晚上很黑", location=Location(street="street-hanzheng")))
    asked = await n.wait_for(need, lambda s: s.state.pending_information is not None)
    assert asked.state.pending_information.missing_fields == ("location",)
    await n.act(
        need,
        Actor(id="integrator-test", role=Role.INTEGRATOR),
        ProvideInformation(fields={"grid": "grid-xinhua-2", "building": "3栋"}),
    )
    routed = await n.wait_for(need, lambda s: s.state.stage == Stage.ASSIGNMENT)
    assert routed.state.assigned_unit == "grid-xinhua-2"
    assert routed.state.location.community == "community-xinhua"
    await n.record_history(need, "location_asked_then_routed")


async def test_an_unmerged_report_goes_on_as_a_need_of_its_own(dev_needs: Needs) -> None:
    n = dev_needs
    place = DONGTING_1.model_copy(update={"building": f"{uuid.uuid4().int % 900 + 100}栋"})
    first = await n.submit(a_need("楼道灯坏了，晚上很黑", requester="res-a", location=place))
    await n.wait_for(first, lambda s: s.state.stage == Stage.ASSIGNMENT)
    repeat = await n.submit(a_need("楼道的灯不亮好几天了", requester="res-b", location=place))
    assert (await handle(repeat, n).result()).state.outcome == Outcome.MERGED
    await n.wait_for(first, lambda s: repeat in s.state.linked_reports)
    supervisor = Actor(id="sup-1", role=Role.SUPERVISOR, unit="supervision-district")
    await n.act(first, supervisor, UnlinkReport(linked_stream_id=repeat, reason="是另一盏灯"))
    primary = await n.snapshot(first)
    assert [r.requester_id for r in primary.state.requesters] == ["res-a"]
    split = await n.wait_for(split_id(repeat), lambda s: s.state.stage == Stage.ASSIGNMENT)
    assert split.state.assigned_unit == "grid-dongting-1"
    assert split.state.clock_from is not None
    stored = [e.event() for e in await n.stored(split_id(repeat))]
    origin = next(e for e in stored if e.type == "DemandSplit")
    assert (origin.split_by, origin.reason) == ("sup-1", "是另一盏灯")  # not its submitter
    await assert_store_agrees(n, split_id(repeat))
    await n.record_history(first, "unmerged_primary")
    await n.record_history(split_id(repeat), "unmerged_split")
