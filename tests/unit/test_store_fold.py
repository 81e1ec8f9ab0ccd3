"""store.fold: every event type has a rule, and the deadlines the row shows are the state's."""

from __future__ import annotations

from domain.events import EVENT_TYPES
from domain.state import fold as fold_state
from store import fold, samples


def test_every_event_type_has_a_projection_rule():
    assert set(fold.RULES) == set(EVENT_TYPES)


def _row(path):
    sid = samples.new_stream_id()
    row, _ = fold.fold(None, sid, samples.envelopes(sid, path))
    return row


def test_a_resumed_clock_moves_the_rows_deadline():
    row = _row(samples.resumed_in_handling_path())
    assert row["stage"] == "handling"
    assert row["due_at"] == samples.at(52) == fold_state(samples.resumed_in_handling_path()).due_at


def test_a_reopened_need_is_due_at_the_reopenings_deadline():
    path = samples.reopened_with_deadline_path()
    row = _row(path)
    assert (row["stage"], row["task"], row["reopenings"]) == ("handling", "handle", 1)
    assert row["due_at"] == samples.at(90) == fold_state(path).due_at


def test_a_classified_need_no_longer_shows_the_dispatchers_deadline():
    path = [
        samples.submitted(),
        samples.ev.ClassificationRequested(
            dispatcher_unit="community-3", reason="no_rule", due_at=samples.at(3)
        ),
    ]
    assert _row(path)["due_at"] == samples.at(3)
    classified = samples.happy_path()[1]
    assert _row([*path, classified])["due_at"] is None


def test_a_need_a_project_completed_before_acceptance_keeps_no_due_time():
    path = samples.completed_by_project_path()
    row = _row(path)
    assert (row["stage"], row["task"], row["due_at"]) == ("evaluation", None, None)
    assert fold_state(path).due_at is None
