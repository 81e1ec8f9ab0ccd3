from datetime import timedelta

import pytest

from domain.collection import OpenNeedSummary, matches
from domain.commands import (
    ExpireInformationRequest,
    LinkReport,
    ProvideInformation,
    Submit,
    need_id_for,
)
from domain.errors import InvalidCommand, WrongStage
from domain.model import (
    Category,
    Channel,
    Location,
    Outcome,
    Requester,
    RequesterKind,
    Stage,
)
from domain.state import next_deadline
from tests.unit.domain_kit import (
    DONGTING_GRID_1,
    MONDAY_10AM,
    POLICY,
    RESIDENT,
    Story,
    submission,
    types,
)

ENTERPRISE = RequesterKind.ENTERPRISE


def health_certificates(details=None):
    return submission(
        "员工健康证集中办理",
        requester_id="ent-huading",
        kind=ENTERPRISE,
        channel=Channel.JOINT_MEETING,
        details=details,
    )


def test_need_id_for_hashes_the_external_id_and_never_shows_it():
    stream = need_id_for(Channel.WECHAT, "13812345678-msg-1")
    assert stream.startswith("need-wechat-") and len(stream) == len("need-wechat-") + 16
    assert "13812345678" not in stream
    assert stream == need_id_for("wechat", "13812345678-msg-1")


def test_a_complete_submission_is_classified_and_assigned_at_once():
    story = Story()
    assert types(story.submit(submission("小区路灯坏了"))) == [
        "DemandSubmitted",
        "DemandClassified",
        "DemandAssigned",
    ]
    assert story.state.stage == Stage.ASSIGNMENT


def test_the_state_keeps_no_address_and_no_name():
    story = Story()
    story.submit(submission("小区路灯坏了"))
    dumped = story.state.model_dump_json()
    assert "洞庭街" not in dumped and "张三" not in dumped and "138" not in dumped
    assert story.state.location.grid == "grid-dongting-1"


def test_missing_required_fields_ask_the_requester_and_hold_classification():
    story = Story()
    events = story.submit(health_certificates())
    assert types(events) == ["DemandSubmitted", "InformationRequested"]
    asked = events[1]
    assert asked.missing_fields == ["staff_count"] and asked.ask == "requester"
    assert asked.due_at == MONDAY_10AM + timedelta(hours=24)
    assert asked.rule_id == "collection.required_fields" and asked.policy_version == POLICY.version
    assert story.state.stage == Stage.COLLECTION


def test_the_answer_completes_collection_and_the_need_moves_on():
    story = Story()
    story.submit(health_certificates())
    events = story.later(hours=1).run(ProvideInformation(fields={"staff_count": "1800"}), RESIDENT)
    assert types(events) == ["InformationProvided", "DemandClassified", "DemandAssigned"]
    assert story.state.assigned_unit == "dept-health"


def test_the_workflow_sleeps_until_the_information_request_expires():
    story = Story()
    story.submit(health_certificates())
    when, timer = next_deadline(story.state)
    assert timer == ExpireInformationRequest(due_at=when)


def test_expiry_hands_the_need_to_the_grid_worker_when_the_policy_says_so():
    story = Story()
    story.submit(health_certificates())
    due = story.state.pending_information.due_at
    events = story.at(due).run(ExpireInformationRequest(due_at=due))
    assert types(events) == ["InformationRequestExpired", "DemandClassified", "DemandAssigned"]
    assert events[0].action == "hand_to_grid"
    assert events[2].unit_id == "grid-dongting-1" and events[2].reason == "handed_to_grid"


def test_expiry_closes_the_need_as_incomplete_when_the_policy_says_so():
    closing = POLICY.model_copy(
        update={
            "collection": POLICY.collection.model_copy(update={"on_information_expiry": "close"})
        }
    )
    story = Story(policy=closing)
    story.submit(health_certificates())
    due = story.state.pending_information.due_at
    events = story.at(due).run(ExpireInformationRequest(due_at=due))
    assert types(events) == ["InformationRequestExpired", "DemandClosed"]
    assert events[1].outcome == Outcome.INCOMPLETE and events[1].satisfied is None
    assert story.state.stage == Stage.CLOSED


def test_an_early_or_stale_expiry_timer_changes_nothing():
    story = Story()
    story.submit(health_certificates())
    due = story.state.pending_information.due_at
    assert story.run(ExpireInformationRequest(due_at=due)) == []
    assert story.at(due).run(ExpireInformationRequest(due_at=due - timedelta(hours=1))) == []


def test_information_without_a_pending_request_is_refused():
    story = Story()
    story.submit(submission("小区路灯坏了"))
    with pytest.raises(InvalidCommand, match="fields"):
        story.run(ProvideInformation(fields={"x": "y"}), RESIDENT)


def test_a_need_cannot_be_submitted_twice():
    story = Story()
    story.submit(submission("小区路灯坏了"))
    with pytest.raises(WrongStage, match="Submit"):
        story.submit(submission("小区路灯坏了"))


def test_a_duplicate_submission_is_merged_into_the_open_need_and_ends():
    story = Story()
    events = story.run(Submit(submission=submission("857号卫生脏乱"), duplicate_of="need-app-1"))
    assert types(events) == ["DemandSubmitted", "DemandMerged", "DemandClosed"]
    assert events[1].into_stream_id == "need-app-1"
    assert events[1].rule_id == "collection.duplicate_window"
    assert story.state.outcome == Outcome.MERGED


def test_a_linked_report_adds_its_requester_once():
    story = Story()
    story.submit(submission("857号卫生脏乱"))
    neighbour = Requester(requester_id="res-2", kind=RequesterKind.PARTY_MEMBER)
    link = LinkReport(linked_stream_id="need-app-2", channel=Channel.WECHAT, requester=neighbour)
    assert types(story.run(link)) == ["ReportLinked"]
    assert story.run(link) == []
    assert [r.requester_id for r in story.state.requesters] == ["res-1", "res-2"]


OPEN = OpenNeedSummary(
    stream_id="need-app-1",
    category=Category.DAILY_LIFE,
    place_key=DONGTING_GRID_1.place_key(),
    submitted_at=MONDAY_10AM,
)


@pytest.mark.parametrize(
    ("title", "location", "hours_later", "expected"),
    [
        ("857号卫生太差", DONGTING_GRID_1, 5, True),
        ("垃圾没人清扫", DONGTING_GRID_1, 71, True),
        ("垃圾没人清扫", DONGTING_GRID_1, 73, False),
        ("怎么办理退休", DONGTING_GRID_1, 1, False),
        (
            "857号卫生太差",
            Location(street="street-hanzheng", community="community-qinghe"),
            1,
            False,
        ),
    ],
    ids=[
        "same-category-place-window",
        "edge-of-window",
        "after-window",
        "other-category",
        "other-place",
    ],
)
def test_duplicates_need_same_category_same_place_within_the_window(
    title, location, hours_later, expected
):
    report = submission(title, requester_id="res-9", location=location)
    now = MONDAY_10AM + timedelta(hours=hours_later)
    assert matches(OPEN, report, POLICY, now=now) is expected


def test_text_a_database_cannot_store_is_refused_at_the_door():
    import pytest
    from pydantic import ValidationError

    for bad in ("lamp\x00broken", "lamp \ud800"):
        with pytest.raises(ValidationError) as refused:
            submission(bad, external_id="ext-1")
        assert [e["loc"] for e in refused.value.errors()] == [("title",)]
    with pytest.raises(ValidationError, match="details"):
        submission("路灯坏了", details={"note": "a\x00b"})


@pytest.mark.parametrize(
    ("description", "asked"),
    [
        ("晚上黑漆漆的，好几天了", True),
        ("就在多福路小学后面那条巷子里", False),  # a landmark with a side: somewhere to go
        ("汉正街和多福路路口那盏", False),  # a crossing of two named streets
        ("就在我们小区门口", True),  # which one? no name
        ("每天小区门口都黑漆漆的", True),  # a time, not a name
        ("隔壁小区门口那盏", True),  # a relation, not a name
        ("我不知道在哪条路的路口", True),  # a question, not a crossing
        ("走到人行道和车道的交叉口", True),  # no named streets
    ],
)
def test_a_street_only_lamp_is_asked_where_unless_its_text_names_somewhere(description, asked):
    from domain.collection import needs_a_place
    from domain.model import Location

    street_only = Location(street="street-hanzheng")
    story = Story()
    story.submit(submission("路灯坏了", description=description, location=street_only))
    assert needs_a_place(story.state.model_copy(update={"known_fields": set()}), POLICY) is asked
    requested = [e for e in story.history if e.type == "InformationRequested"]
    assert bool(requested) is asked and all(e.missing_fields == ["location"] for e in requested)


def test_a_policy_from_before_landmarks_asks_about_a_landmark_too():
    """Running needs hold their policy: one written before `landmarks_are_places` asks."""
    from domain.collection import needs_a_place
    from domain.model import Location

    older = POLICY.model_copy(
        update={"collection": POLICY.collection.model_copy(update={"landmarks_are_places": False})}
    )
    story = Story(older)
    report = submission(
        "路灯坏了", description="多福路小学后面", location=Location(street="street-hanzheng")
    )
    story.submit(report)
    assert any(e.type == "InformationRequested" for e in story.history)
    assert needs_a_place(story.state.model_copy(update={"known_fields": set()}), older)


@pytest.mark.parametrize(
    ("address", "asked"),
    [
        ("汉正街", True),  # a street alone: where on it?
        ("汉正街附近", True),
        ("汉正街857号", False),
        ("汉正街八十五号", False),
        ("汉正街和多福路路口", False),
        ("多福路小学门口", False),
        ("汉正街小商品市场", False),  # a named facility
        ("不知道哪个小区", True),  # a question, not a name
        ("汉正街那个小区", True),
        ("13812345678", True),  # a phone in the wrong field
        ("不详", True),
    ],
)
def test_an_address_is_a_place_only_when_it_says_where(address, asked):
    from domain.collection import needs_a_place
    from domain.model import Location

    story = Story()
    story.submit(
        submission("路灯坏了", location=Location(street="street-hanzheng", address=address))
    )
    assert needs_a_place(story.state.model_copy(update={"known_fields": set()}), POLICY) is asked
    assert any(e.type == "InformationRequested" for e in story.history) is asked


def test_a_policy_from_before_addresses_name_places_takes_any_address():
    """Running needs hold their policy: one written before `addresses_name_places` does not
    ask about a street-only address, so its needs replay."""
    from domain.collection import needs_a_place
    from domain.model import Location

    older = POLICY.model_copy(
        update={"collection": POLICY.collection.model_copy(update={"addresses_name_places": False})}
    )
    story = Story(older)
    story.submit(
        submission("路灯坏了", location=Location(street="street-hanzheng", address="汉正街"))
    )
    assert not any(e.type == "InformationRequested" for e in story.history)
    assert not needs_a_place(story.state.model_copy(update={"known_fields": set()}), older)
