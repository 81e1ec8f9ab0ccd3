"""Repeats are judged on item, place and wording (domain/repeats.py), and a doubt goes to a
dispatcher instead of merging."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.commands import (
    LinkReport,
    RepeatVerdict,
    ResolvePossibleRepeat,
    SplitOrigin,
    Submit,
    UnlinkReport,
)
from domain.errors import InvalidCommand, NotPermitted
from domain.model import Location, Outcome, Requester, Stage
from domain.repeats import best_verdict, can_merge, fingerprint, judge, split_id
from tests.unit.domain_kit import (
    DISPATCHER,
    MONDAY_10AM,
    POLICY,
    SUPERVISOR,
    Story,
    staff,
    submission,
    types,
)

GRID_ONLY = Location(
    street="street-hanzheng", community="community-dongting", grid="grid-dongting-1"
)


def at(building: str | None = None, address: str | None = None, **coords: float) -> Location:
    return GRID_ONLY.model_copy(update={"building": building, "address": address})


def printed(
    stream_id: str,
    title: str,
    location: Location = GRID_ONLY,
    *,
    requester_id: str = "res-1",
    details: dict[str, str] | None = None,
    minutes: int = 0,
):
    report = submission(title, requester_id=requester_id, location=location, details=details)
    return fingerprint(stream_id, report, POLICY, MONDAY_10AM + timedelta(minutes=minutes))


def test_the_same_lamp_in_the_same_building_told_in_other_words_merges():
    first = printed("a", "6栋楼道灯坏了，晚上很黑", at("6栋"))
    again = printed("b", "六号楼的楼道灯不亮，好几天了", at("6号楼"))
    verdict = judge(again, first, POLICY)
    assert verdict.kind == "merge" and verdict.of_stream_id == "a"
    assert verdict.rule_id == "collection.repeats.street-lamp" and verdict.score >= 0.7


def test_a_building_named_in_the_text_counts_as_the_place():
    first = printed("a", "3号楼电梯坏了，困人了")
    same = printed("b", "3号楼电梯停运两天了")
    other = printed("c", "5号楼电梯停运两天了")
    assert judge(same, first, POLICY).kind == "merge"
    assert judge(other, first, POLICY).kind == "none"


def test_two_buildings_at_one_street_address_are_two_places():
    first = printed("a", "楼道灯坏了", at("6栋", "洞庭街7号"))
    other = printed("b", "楼道灯坏了", at("8栋", "洞庭街7号"))
    assert judge(other, first, POLICY).kind == "none"


def test_another_problem_at_the_same_place_is_another_need():
    lamp = printed("a", "6栋楼道灯坏了", at("6栋"))
    lift = printed("b", "6栋电梯坏了", at("6栋"))
    assert judge(lift, lamp, POLICY).kind == "none"


@pytest.mark.parametrize(
    ("first_text", "second_text", "why"),
    [
        ("5栋402卫生间天花板滴水，楼上502漏的", "5栋顶楼701屋顶渗水，卧室发霉", "other floors"),
        ("5栋大门口的路灯坏了，晚上很黑", "5栋后巷那根杆子上的路灯坏了，晚上很黑", "other spots"),
        ("5栋的自来水发黄，不敢喝", "5栋下午停电了，冰箱都化了", "no shared word"),
        (
            "5栋活动中心的乒乓球台台面裂开了，打不成球",
            "5栋活动中心的阅览室关了一个月，想看报纸都冇得地方",
            "other things of the item",
        ),
        (
            "5栋东边那部电梯（1号梯）按9楼冇得反应，只能按到8楼再爬上去",
            "5栋西边2号梯运行的时候咔咔响，还有股焦味，不是东边那部电梯",
            "other numbered things",
        ),
    ],
)
def test_two_problems_of_one_item_at_one_place_are_only_possible_repeats(
    first_text, second_text, why
):
    """One building, one item, a high score: but other floors, other spots, or none of the
    item's words in common may be two problems there (policy `same_specifics`)."""
    first = printed("a", first_text, at("5栋"))
    second = printed("b", second_text, at("5栋"), requester_id="res-2")
    verdict = judge(second, first, POLICY)
    assert verdict.kind == "possible", why
    assert verdict.score >= POLICY.collection.repeats.merge_score or why == "no shared word"
    relaxed = POLICY.collection.repeats.model_copy(update={"same_specifics": False})
    older = POLICY.model_copy(
        update={"collection": POLICY.collection.model_copy(update={"repeats": relaxed})}
    )
    # without the rule, item, place and score alone decide: those above the bar merged
    expected = "merge" if verdict.score >= relaxed.merge_score else "possible"
    assert judge(second, first, older).kind == expected


def test_a_report_the_learned_model_reads_as_another_problem_is_only_a_possible_repeat():
    """Furniture dumped beside a drain that was already overflowing: the words say drain (下水口,
    冒水), the learned model says rubbish. Two readers that disagree are no sure repeat."""
    place = at(address="汉正街1218号")
    drain = printed("a", "1218号门口下水口往外冒脏水，臭得很", place)
    dumped = printed(
        "b",
        "1218号边上有人半夜丢了一堆旧家具，烂沙发和床垫堆了三四天，旁边下水口还在冒水",
        place,
        requester_id="res-2",
    )
    assert dumped.item == "drainage" and dumped.second_reading == "sanitation"
    assert judge(dumped, drain, POLICY).kind == "possible"


def test_the_same_problem_at_the_same_floor_and_spot_still_merges():
    first = printed("a", "21栋3楼楼道水管爆裂，水往下流", at("21栋"))
    again = printed("b", "21栋三楼楼梯间的水管爆了，一直漏水", at("21栋"), requester_id="res-2")
    assert judge(again, first, POLICY).kind == "merge"


def test_floors_and_spots_named_in_a_text():
    from domain.text import floors_in, spots_in

    assert floors_in("我住5栋402，楼上502漏水") == {4, 5}
    assert floors_in("21栋三楼楼道") == {3}
    assert floors_in("5号楼门口，2026年，180元，500米，30.57213") == set()
    assert floors_in("21栋3楼楼道") == {3} == floors_in("住在302")
    for not_a_floor in (
        "打了110和120",
        "2026-12-06",
        "2026/12/6",
        "027-8765-4321",
        "220v",
        "130平米",
        "120多米",
        "地上一层水",
        "六层楼高",
        "负1层",
        "B1层",
    ):
        assert floors_in(not_a_floor) == set(), not_a_floor
    assert spots_in("汉正街455号大门口") == {"front"} == spots_in("小区入口处")
    assert spots_in("顶楼屋顶渗水") == {"top"}
    for no_spot in ("南门菜场的路灯", "医院里", "后面再修", "地下水", "左手拿着"):
        assert spots_in(no_spot) == set(), no_spot


def test_numbered_things_named_in_a_text():
    from domain.text import numbered_things_in

    assert (
        numbered_things_in("东边那部电梯（1号梯）坏了")
        == {"1 lift"}
        == numbered_things_in("一号电梯")
    )
    assert numbered_things_in("3号充电桩和5号桩都没电") == {"3 charger", "5 charger"}
    assert numbered_things_in("1号客梯") != numbered_things_in("1号货梯")  # two lifts
    assert numbered_things_in("5号杆") == numbered_things_in("5号路灯")  # one lamp post
    for nothing in ("3号楼漏水", "汉正街5号门口", "2号院", "1号线地铁站"):
        assert numbered_things_in(nothing) == set(), nothing


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("多福路小学正门对面那截人行道塌了", ["多福路小学"]),
        ("大兴路跟多福路交叉的那个路口，沥青塌下去一块", ["大兴路/多福路"]),
        ("汉正街和多福路路口", ["汉正街/多福路"]),
        ("每天小区门口都堵", []),
        ("不知道哪条路的路口", []),
    ],
)
def test_landmarks_with_a_side_and_crossings_of_named_streets(text, found):
    from domain.text import landmarks_in

    assert landmarks_in(text, forms=2) == found


def test_policies_before_the_second_landmark_forms_read_landmarks_as_before():
    """A need holds its policy for life and its place question is decided in workflow code:
    policies without `landmark_forms: 2` keep the first forms, so their needs replay."""
    from domain.text import landmarks_in

    assert landmarks_in("多福路小学正门对面那截人行道塌了") == []
    assert landmarks_in("大兴路跟多福路交叉的那个路口") == []
    assert landmarks_in("多福路小学后面") == ["多福路小学"]
    assert landmarks_in("汉正街和多福路路口") == ["汉正街/多福路"]


def test_a_grid_only_report_is_at_most_a_possible_repeat():
    first = printed("a", "小区门口路灯坏了，晚上很黑")
    again = printed("b", "小区门口的路灯不亮，晚上很黑")
    verdict = judge(again, first, POLICY)
    assert verdict.kind == "possible" and verdict.of_stream_id == "a"


def test_reports_in_different_grids_are_never_repeats():
    first = printed("a", "6栋楼道灯坏了", at("6栋"))
    elsewhere = printed(
        "b",
        "6栋楼道灯坏了",
        GRID_ONLY.model_copy(update={"grid": "grid-dongting-2", "building": "6栋"}),
    )
    assert judge(elsewhere, first, POLICY).kind == "none"


def test_coordinates_a_few_metres_apart_are_one_place_and_far_apart_are_two():
    near = {"lat": "30.571200", "long": "114.273100"}
    close = {"lat": "30.571250", "long": "114.273120"}  # about 6 m
    far = {"lat": "30.572200", "long": "114.273100"}  # about 110 m
    first = printed("a", "井盖没了，很危险", details=near)
    assert judge(printed("b", "井盖丢了还没补", details=close), first, POLICY).kind == "merge"
    assert judge(printed("c", "井盖丢了还没补", details=far), first, POLICY).kind == "none"


def test_the_same_question_from_two_people_is_two_needs():
    first = printed("a", "高龄津贴怎么申请", requester_id="res-1")
    other = printed("b", "高龄津贴怎么申请", requester_id="res-2")
    assert judge(other, first, POLICY).kind == "none"


def test_the_same_person_asking_again_is_only_a_possible_repeat():
    first = printed("a", "高龄津贴怎么申请？我父亲满八十了", requester_id="res-1")
    again = printed("b", "再问一下高龄津贴怎么申请", requester_id="res-1")
    assert judge(again, first, POLICY).kind == "possible"


def test_a_sure_repeat_wins_over_a_possible_one_and_the_older_wins_ties():
    possible = printed("a", "小区门口路灯坏了")
    sure_old = printed("b", "6栋楼道灯坏了", at("6栋"))
    sure_new = printed("c", "6栋楼道灯坏了", at("6栋"))
    new = printed("d", "6栋的楼道灯坏了", at("6栋"))
    verdict = best_verdict(new, [possible, sure_old, sure_new], POLICY)
    assert (verdict.kind, verdict.of_stream_id) == ("merge", "b")
    assert best_verdict(new, [], POLICY) == RepeatVerdict()


def test_a_fingerprint_keeps_places_as_digests_only():
    fp = printed("a", "路灯坏了", at("6栋", "洞庭街7号"))
    assert fp.places and all(len(p) == 18 for p in fp.places)
    assert "洞庭街" not in " ".join(fp.places)


def test_a_merge_verdict_ends_the_submission_with_its_score():
    story = Story()
    verdict = RepeatVerdict(
        kind="merge", of_stream_id="need-x", score=0.9, rule_id="collection.repeats.street-lamp"
    )
    events = story.run(Submit(submission=submission("6栋楼道灯坏了"), repeat=verdict))
    assert types(events) == ["DemandSubmitted", "DemandMerged", "DemandClosed"]
    assert (events[1].into_stream_id, events[1].score) == ("need-x", 0.9)
    assert story.state.outcome == Outcome.MERGED


def flagged_story() -> Story:
    story = Story()
    verdict = RepeatVerdict(kind="possible", of_stream_id="need-x", score=0.6)
    events = story.run(Submit(submission=submission("小区门口路灯坏了"), repeat=verdict))
    assert types(events)[:2] == ["DemandSubmitted", "PossibleRepeatFlagged"]
    assert events[1].dispatcher_unit == "community-dongting"
    assert story.state.stage == Stage.ASSIGNMENT  # it goes on as its own need meanwhile
    return story


def test_a_dispatcher_links_a_possible_repeat_and_it_merges():
    story = flagged_story()
    events = story.run(ResolvePossibleRepeat(decision="link"), DISPATCHER)
    assert types(events) == ["PossibleRepeatResolved", "DemandMerged", "DemandClosed"]
    assert events[1].rule_id == "manual" and story.state.merged_into == "need-x"


def test_a_dismissed_doubt_leaves_the_need_as_it_was():
    story = flagged_story()
    events = story.run(ResolvePossibleRepeat(decision="dismiss"), SUPERVISOR)
    assert types(events) == ["PossibleRepeatResolved"]
    assert story.state.possible_repeat_of is None and story.state.stage == Stage.ASSIGNMENT
    with pytest.raises(InvalidCommand):
        story.run(ResolvePossibleRepeat(decision="dismiss"), SUPERVISOR)


def test_staff_cannot_settle_a_possible_repeat():
    story = flagged_story()
    with pytest.raises(NotPermitted):
        story.run(ResolvePossibleRepeat(decision="link"), staff("grid-dongting-1"))


def primary_with_a_linked_report() -> Story:
    story = Story()
    story.run(Submit(submission=submission("6栋楼道灯坏了", requester_id="res-1")))
    story.run(
        LinkReport(
            linked_stream_id="need-app-0000000000000001",
            channel="app",
            requester=Requester(requester_id="res-2", kind="resident"),
        )
    )
    assert {r.requester_id for r in story.state.requesters} == {"res-1", "res-2"}
    return story


def test_unmerge_takes_the_report_and_its_requester_out_of_the_need():
    story = primary_with_a_linked_report()
    events = story.run(
        UnlinkReport(linked_stream_id="need-app-0000000000000001", reason="是另一盏灯"), SUPERVISOR
    )
    assert types(events) == ["ReportUnlinked"]
    assert events[0].split_stream_id == split_id("need-app-0000000000000001")
    assert story.state.linked_reports == ()
    assert [r.requester_id for r in story.state.requesters] == ["res-1"]


def test_unmerge_of_a_report_that_was_never_merged_here_is_refused():
    story = primary_with_a_linked_report()
    with pytest.raises(InvalidCommand):
        story.run(
            UnlinkReport(linked_stream_id="need-app-00000000000000ff", reason="x"), SUPERVISOR
        )
    with pytest.raises(NotPermitted):
        story.run(
            UnlinkReport(linked_stream_id="need-app-0000000000000001", reason="x"),
            staff("grid-dongting-1"),
        )


def test_a_split_need_counts_its_acceptance_deadline_from_its_own_submission():
    submitted = MONDAY_10AM - timedelta(hours=1)
    origin = SplitOrigin(
        merged_stream_id="need-app-0000000000000001",
        primary_stream_id="need-app-0000000000000002",
        submitted_at=submitted,
    )
    story = Story()
    events = story.run(Submit(submission=submission("6栋楼道灯坏了"), split=origin))
    assert types(events)[:2] == ["DemandSubmitted", "DemandSplit"]
    assigned = next(e for e in events if e.type == "DemandAssigned")
    assert assigned.accept_due_at == submitted + POLICY.sla.acceptance  # 09:00 + 2 h


def test_two_units_of_one_building_are_two_lifts():
    first = printed("a", "6栋1单元电梯坏了")
    other = printed("b", "6栋2单元电梯坏了")
    assert judge(other, first, POLICY).kind == "none"


def test_a_street_without_a_number_or_a_placeholder_is_no_place():
    street = at(address="汉正街")
    assert (
        judge(printed("b", "路灯坏了", street), printed("a", "路灯不亮", street), POLICY).kind
        != "merge"
    )
    nothing = at("无")
    assert (
        judge(printed("b", "路灯坏了", nothing), printed("a", "路灯不亮", nothing), POLICY).kind
        != "merge"
    )


def test_courtyards_and_buildings_are_not_confused():
    first = printed("a", "3号院5栋电梯坏了")
    other = printed("b", "5号院3栋电梯坏了")
    assert judge(other, first, POLICY).kind == "none"


def test_different_buildings_stay_different_even_a_few_metres_apart():
    here = {"lat": "30.571200", "long": "114.273100"}
    close = {"lat": "30.571250", "long": "114.273120"}
    first = printed("a", "6栋电梯坏了", details=here)
    other = printed("b", "7栋电梯坏了", details=close)
    assert judge(other, first, POLICY).kind == "none"
    origin = {"lat": "0", "long": "0"}
    assert (
        judge(
            printed("d", "井盖没了", details=origin),
            printed("c", "井盖丢了", details=origin),
            POLICY,
        ).kind
        != "merge"
    )


def test_a_report_without_a_community_is_compared_but_never_merged():
    street_only = Location(street="street-hanzheng")
    first = printed("a", "6栋电梯坏了，困人了", at("6栋"))
    vague = printed("b", "6栋电梯坏了，困人了", street_only)
    assert judge(vague, first, POLICY).kind == "possible"


def test_words_before_a_street_name_do_not_change_the_house_number():
    first = printed("a", "路灯坏了", at(address="汉正街857号"))
    again = printed("b", "我家在汉正街857号门口路灯坏了，很黑")
    assert judge(again, first, POLICY).kind == "merge"


# --- the intake's locks (store/intake.py): reports a sure repeat could join share one -------


def test_only_a_sure_item_at_a_named_place_can_merge_so_only_it_locks_places():
    from store.intake import place_lock_keys

    distance = POLICY.collection.repeats.distance_m
    building = printed("a", "路灯不亮了", at(building="6栋"))
    assert can_merge(building) and place_lock_keys(building, distance)
    for cannot in (
        printed("b", "路灯不亮了"),  # a grid only
        printed("c", "高龄津贴怎么申请", at(building="6栋")),  # a question
        printed("d", "这个事情麻烦处理一下", at(building="6栋")),  # no item named surely
    ):
        assert not can_merge(cannot) and place_lock_keys(cannot, distance) == []


def wait_for_each_other(one, other) -> bool:
    """Whether two intakes' place locks conflict: a key both take, one of them exclusively."""
    from store.intake import place_lock_keys

    distance = POLICY.collection.repeats.distance_m
    mine, theirs = dict(place_lock_keys(one, distance)), dict(place_lock_keys(other, distance))
    return any(mine[k] or theirs[k] for k in mine.keys() & theirs.keys())


def test_two_reports_that_merge_by_building_share_a_lock_and_other_buildings_do_not():
    first = printed("a", "6栋门口路灯不亮了")
    again = printed("b", "路灯坏了好几天", at(building="6栋"), minutes=5)
    other = printed("c", "路灯坏了好几天", at(building="7栋"), minutes=5)
    assert judge(again, first, POLICY).kind == "merge"
    assert wait_for_each_other(first, again)
    assert not wait_for_each_other(first, other)


def test_buildings_at_one_address_do_not_wait_but_the_address_alone_waits_for_both():
    six = printed("a", "路灯不亮了", at(building="6栋", address="洞庭街7号"))
    seven = printed("b", "路灯不亮了", at(building="7栋", address="洞庭街7号"), minutes=1)
    address = printed("c", "路灯坏了很黑", at(address="洞庭街7号"), minutes=2)
    assert judge(seven, six, POLICY).kind == "none"  # buildings decide first
    assert not wait_for_each_other(six, seven)
    for building in (six, seven):
        assert judge(address, building, POLICY).kind == "merge"
        assert wait_for_each_other(address, building)


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=22.0, max_value=40.0),
    lon=st.floats(min_value=100.0, max_value=120.0),
    bearing=st.floats(min_value=0, max_value=2 * math.pi),
    fraction=st.floats(min_value=0, max_value=0.99),
)
def test_reports_within_the_distance_share_a_coordinate_lock(lat, lon, bearing, fraction):
    """Wherever the cell boundaries fall: two points the rules call one place lock one cell."""

    distance = POLICY.collection.repeats.distance_m
    metres = distance * fraction
    lat2 = lat + metres * math.cos(bearing) / 111_000
    lon2 = lon + metres * math.sin(bearing) / (111_000 * math.cos(math.radians(lat)))
    first = printed("a", "井盖没了，很危险", details={"lat": f"{lat:.7f}", "long": f"{lon:.7f}"})
    second_details = {"lat": f"{lat2:.7f}", "long": f"{lon2:.7f}"}
    second = printed("b", "井盖丢了", details=second_details)
    assert first.latitude is not None and second.latitude is not None
    assert wait_for_each_other(first, second)
    with_building = printed("c", "井盖丢了", at(building="6栋"), details=second_details)
    assert wait_for_each_other(first, with_building)  # coordinates decide: one has no building


def _a_report(draw, name: str):
    """A lamp report at a place drawn from what residents give: a community or only the street,
    a building, a courtyard or a house number (in the fields or the text), coordinates."""
    community = draw(st.booleans())
    place = Location(
        street="street-hanzheng",
        community="community-dongting" if community else None,
        grid="grid-dongting-1" if community and draw(st.booleans()) else None,
        building=draw(st.sampled_from([None, "6栋", "7栋"])),
        address=draw(st.sampled_from([None, "汉正街857号", "汉正街858号"])),
    )
    text = draw(st.sampled_from(["路灯坏了，晚上很黑", "3号院门口路灯不亮", "4号院的路灯坏了"]))
    spot = draw(st.sampled_from([None, (30.57, 114.27), (30.57005, 114.27004), (30.58, 114.28)]))
    details = {"lat": str(spot[0]), "long": str(spot[1])} if spot else None
    report = submission(text, requester_id=f"res-{name}", location=place, details=details)
    return fingerprint(name, report, POLICY, MONDAY_10AM)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_any_two_reports_a_sure_repeat_could_join_wait_for_each_other(data):
    """The intake locks' promise (store/intake.py), over every kind of place a report gives:
    whenever the rules would merge one report into the other, their locks conflict."""
    first, second = _a_report(data.draw, "a"), _a_report(data.draw, "b")
    if judge(second, first, POLICY).kind == "merge" or judge(first, second, POLICY).kind == "merge":
        assert wait_for_each_other(first, second)


def test_a_building_the_text_only_mentions_is_not_the_reports_place():
    """The building field says where the report is; 22栋 in its text is a mention."""
    first = printed("a", "22栋的电梯又停了，门口贴了检修", at("22栋"))
    mention = printed("b", "24栋电梯一启动就抖，不晓得是不是跟22栋一个维保公司", at("24栋"))
    assert judge(mention, first, POLICY).kind == "none"  # two buildings: two places


def test_a_report_naming_several_buildings_is_at_most_a_possible_repeat_of_one():
    first = printed("a", "22栋的电梯又停了，门口贴了检修")
    several = printed("b", "24栋电梯一启动就抖，不晓得是不是跟22栋的电梯一个维保公司")
    assert judge(several, first, POLICY).kind != "merge"
    alone = printed("c", "22栋电梯停了，贴了检修的纸")
    assert judge(alone, first, POLICY).kind == "merge"
