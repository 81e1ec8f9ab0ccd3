"""Every door admits a submission only with visible text and a place of the directory; a
resend is recognised by its content."""

from __future__ import annotations

import pytest

from domain.admission import admit, same_submission
from domain.commands import need_id_for
from domain.errors import InvalidCommand
from domain.model import Location
from domain.text import has_visible_text, places_in
from tests.unit.domain_kit import POLICY, Story, submission

STREET = "street-hanzheng"


@pytest.mark.parametrize("title", ["   ", "\u200b", " \u200b\ufeff ", "！！？。", "🙂🙂", ""])
def test_a_title_with_nothing_visible_is_refused_naming_the_field(title):
    with pytest.raises(InvalidCommand) as refused:
        admit(submission("x").model_copy(update={"title": title}), POLICY)
    assert refused.value.field == "title"


def test_text_is_trimmed_and_a_grid_brings_its_community():
    place = Location(street=STREET, grid="grid-qinghe-2")
    admitted = admit(submission("  路灯坏了  ", location=place, description=" 很黑 "), POLICY)
    assert (admitted.title, admitted.description) == ("路灯坏了", "很黑")
    assert admitted.location.community == "community-qinghe"


@pytest.mark.parametrize(
    ("location", "field"),
    [
        (Location(street="street-nowhere"), "location.street"),
        (Location(street="community-dongting"), "location.street"),
        (Location(street=STREET, community="grid-dongting-1"), "location.community"),
        (Location(street=STREET, grid="dept-health"), "location.grid"),
        (
            Location(street=STREET, community="community-xinhua", grid="grid-dongting-1"),
            "location.grid",
        ),
    ],
)
def test_a_place_outside_the_directory_is_refused_naming_the_field(location, field):
    with pytest.raises(InvalidCommand) as refused:
        admit(submission("路灯坏了", location=location), POLICY)
    assert refused.value.field == field


def test_a_resend_is_the_same_submission_and_a_changed_text_is_not():
    story = Story()
    sent = admit(submission("6栋楼道灯坏了"), POLICY)
    stored = story.run_submit(sent)
    assert same_submission(sent, stored, POLICY)
    assert not same_submission(sent.model_copy(update={"title": "6栋电梯坏了"}), stored, POLICY)


def test_a_resend_of_a_need_stored_before_the_door_trimmed_is_still_the_same():
    raw = submission("  6栋楼道灯坏了 ", location=Location(street=STREET, grid="grid-dongting-1"))
    stored = Story().run_submit(raw)  # as stored before admission existed
    assert same_submission(admit(raw, POLICY), stored, POLICY)


def test_two_submitters_with_one_external_id_name_two_needs():
    assert need_id_for("app", "42", "integrator-a") != need_id_for("app", "42", "integrator-b")
    assert need_id_for("app", "42", "integrator-a") == need_id_for("app", "42", "integrator-a")
    assert need_id_for("app", "42") != need_id_for("app", "42", "integrator-a")


def test_visible_text_and_places_in_text():
    assert has_visible_text("a") and has_visible_text("路") and not has_visible_text("。\u200b")
    assert places_in("3号楼4单元、B6栋，我家在汉正街857号，十二栋，3号院") == {
        "b:3",
        "u:3/4",
        "b:b6",
        "a:汉正街857",
        "b:12",
        "y:3",
    }
    assert places_in("有一栋楼，两栋楼之间") == set()
    assert places_in("A4纸不够了，买了2个") == set()


def test_empty_or_placeholder_building_and_address_are_dropped():
    place = Location(
        street=STREET,
        community="community-dongting",
        grid="grid-dongting-1",
        building=" 无 ",
        address="  ",
    )
    admitted = admit(submission("路灯坏了", location=place), POLICY)
    assert admitted.location.building is None and admitted.location.address is None
