import hashlib
from datetime import timedelta

import pytest
from pydantic import ValidationError

from domain.model import Category, Tier, UnitKind, Urgency
from domain.policy import Policy, load_policy, parse_duration, shared
from tests.unit.domain_kit import DEPLOY, FAST_POLICY, POLICY


def test_policy_version_is_the_first_12_hex_of_the_file_sha256():
    raw = (DEPLOY / "policy.yaml").read_bytes()
    assert POLICY.version == hashlib.sha256(raw).hexdigest()[:12]


def test_any_change_to_the_file_changes_the_version():
    raw = (DEPLOY / "policy.yaml").read_bytes()
    assert load_policy(raw + b"\n# edited\n").version != POLICY.version


def test_the_ladder_runs_grid_community_street_supervision():
    assert POLICY.parent_of("grid-dongting-1").id == "community-dongting"
    assert POLICY.parent_of("community-dongting").id == "street-hanzheng"
    assert POLICY.parent_of("street-hanzheng").id == "supervision-district"
    assert POLICY.parent_of("supervision-district") is None


def test_the_demo_district_has_the_four_colour_service_teams_and_the_departments():
    kinds = {u.id: u.kind for u in POLICY.units}
    teams = {"team-green", "team-blue", "team-red", "team-orange"}
    assert all(kinds[t] == UnitKind.SERVICE_TEAM for t in teams)
    assert kinds["dept-health"] == kinds["dept-social-security"] == UnitKind.DEPARTMENT
    assert sum(1 for k in kinds.values() if k == UnitKind.GRID) == 6


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (8, timedelta(hours=8)),
        (0.5, timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("8h", timedelta(hours=8)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations_are_hours_or_carry_a_unit(written, expected):
    assert parse_duration(written) == expected


def test_fast_policy_shares_units_and_rules_but_runs_in_seconds_on_a_continuous_clock():
    assert FAST_POLICY.units == POLICY.units
    assert FAST_POLICY.classification == POLICY.classification
    assert FAST_POLICY.calendar.mode == "continuous"
    assert FAST_POLICY.sla.acceptance == timedelta(seconds=5)
    table = FAST_POLICY.sla.handling[Category.DAILY_LIFE][Tier.GRID]
    assert table[Urgency.NORMAL] == timedelta(seconds=8)


def test_a_policy_survives_a_json_round_trip_for_workflow_inputs():
    assert Policy.model_validate_json(POLICY.model_dump_json()) == POLICY


def test_unknown_unit_references_are_refused():
    text = (
        (DEPLOY / "policy.yaml")
        .read_text()
        .replace("first_receiver: street-hanzheng", "first_receiver: street-nowhere")
    )
    with pytest.raises(ValueError, match="street-nowhere"):
        load_policy(text)


def test_unknown_fields_are_refused():
    text = (DEPLOY / "policy.yaml").read_text() + "\nsurprise: 1\n"
    with pytest.raises(ValidationError):
        load_policy(text)


def test_shared_hands_out_one_instance_per_version():
    raw = (DEPLOY / "policy.yaml").read_bytes()
    first, second = shared(load_policy(raw)), shared(load_policy(raw))
    assert first is second
    edited = shared(load_policy(raw + b"\n# edited\n"))
    assert edited is not first and edited.version != first.version


def test_shared_never_swaps_in_a_different_policy_under_a_known_version():
    raw = (DEPLOY / "policy.yaml").read_bytes()
    kept = shared(load_policy(raw))
    forged = kept.model_copy(update={"name": "something else"})
    assert forged.version == kept.version
    assert shared(forged) is forged


def test_a_policy_without_version_is_not_shared():
    unversioned = POLICY.model_copy(update={"version": ""})
    assert shared(unversioned) is unversioned
