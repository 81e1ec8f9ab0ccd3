"""Mechanics of the workflow itself: continue-as-new, search attributes, repeated intake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.client import Client

from domain.commands import Accept, Complete, NoteProgress, need_id_for
from domain.events import EventEnvelope, ProgressNoted
from domain.model import Actor, Role, ServiceMode, Stage
from tests.workflows.conftest import INTAKE, Needs, handle
from tests.workflows.test_journeys import a_need, assert_store_agrees, staff
from workflows.messages import NeedStart
from workflows.need import NeedWorkflow


async def test_a_long_history_continues_as_new_and_keeps_its_state(dev_needs: Needs) -> None:
    n = dev_needs
    submission = a_need("路灯坏了，晚上很黑")
    need_id = need_id_for(submission.channel, submission.external_id)
    first = await n.client.start_workflow(
        NeedWorkflow.run,
        NeedStart(submission=submission, actor=INTAKE, continue_after_events=50),
        id=need_id,
        task_queue=n.task_queue,
    )
    await n.wait_for(need_id, lambda s: s.state.stage == Stage.ASSIGNMENT)
    grid = staff("grid-dongting-1")
    await n.act(need_id, grid, Accept())
    for i in range(15):
        await n.act(need_id, grid, NoteProgress(note=f"进展 {i}"))
    described = await n.client.get_workflow_handle(need_id).describe()
    assert described.run_id != first.result_run_id, "the run should have continued as new"
    snap = await n.snapshot(need_id)
    assert snap.state.progress_count == 15 and snap.state.stage == Stage.HANDLING
    await n.act(need_id, grid, Complete(result_summary="已修复", service_mode=ServiceMode.ON_SITE))
    await assert_store_agrees(n, need_id)


async def test_search_attributes_let_supervisors_filter_without_personal_data(
    dev_needs: Needs,
) -> None:
    n = dev_needs
    need_id = await n.submit_assigned(a_need("楼下路灯坏了"))
    query = (
        f'WorkflowId = "{need_id}" AND DemandUnit = "grid-dongting-1" '
        'AND DemandStage = "assignment" AND DemandCategory = "daily_life"'
    )
    found = await _list_eventually(n.client, query)
    assert found == [need_id]
    attributes = (await handle(need_id, n).describe()).typed_search_attributes
    values = " ".join(str(pair.value) for pair in attributes)
    assert "王小明" not in values and "13812345678" not in values and "洞庭街" not in values
    assert "王小明" not in need_id


async def test_the_same_submission_sent_many_times_makes_one_need(dev_needs: Needs) -> None:
    n = dev_needs
    submission = a_need("路灯坏了")
    ids = await asyncio.gather(*(n.submit(submission) for _ in range(10)))
    assert set(ids) == {need_id_for(submission.channel, submission.external_id, INTAKE.id)}
    await n.wait_for(ids[0], lambda s: s.state.stage == Stage.ASSIGNMENT)
    await asyncio.sleep(0.5)  # let every repeated signal be processed
    stored = await n.stored(ids[0])
    assert [e.type for e in stored].count("DemandSubmitted") == 1
    assert [e.type for e in stored].count("ReportLinked") == 0


async def _list_eventually(client: Client, query: str, attempts: int = 50) -> list[str]:
    """Visibility is eventually consistent: poll a little."""
    found: list[str] = []
    for _ in range(attempts):
        found = [wf.id async for wf in client.list_workflows(query)]
        if found:
            return found
        await asyncio.sleep(0.2)
    return found


async def test_events_stored_by_an_earlier_task_attempt_are_adopted(dev_needs: Needs) -> None:
    """A local activity runs again when its workflow task is retried (worker killed after
    the append committed): the stream is then ahead of the workflow, which must catch up."""
    n = dev_needs
    need_id, grid, version = await _accepted_by_the_grid(n)
    earlier = EventEnvelope.wrap(
        ProgressNoted(note="written by a task attempt that died"),
        event_id=f"{need_id}:earlier",
        stream_id=need_id,
        version=version + 1,
        actor=grid,
        occurred_at=datetime.now(UTC),
    )
    await n.store.append(need_id, version, [earlier])
    result = await n.act(need_id, grid, NoteProgress(note="进展"))
    assert result.events == ["ProgressNoted"]
    snap = await n.snapshot(need_id)
    assert snap.version == version + 1 and snap.state.progress_count == 1
    await assert_store_agrees(n, need_id)


async def test_a_lost_attempt_of_another_command_does_not_take_the_next_ids(
    dev_needs: Needs,
) -> None:
    """The server lost the task whose append stored two notes; the next task carries a
    different command, whose first event the workflow names for the first occupied version.
    It must adopt both notes and store its own batch after them, under fresh ids (ids drawn
    from the workflow's random sequence were drawn again here: an event id used twice)."""
    n = dev_needs
    need_id, grid, version = await _accepted_by_the_grid(n)
    lost = _notes_of_a_lost_task(need_id, version, grid, ["lost attempt 1", "lost attempt 2"])
    await n.store.append(need_id, version, lost)
    result = await n.act(
        need_id, grid, Complete(result_summary="已修复", service_mode=ServiceMode.ON_SITE)
    )
    assert result.events and result.events[0] == "HandlingCompleted"
    stored = await n.stored(need_id)
    assert [e.type for e in stored[version : version + 2]] == ["ProgressNoted", "ProgressNoted"]
    assert [e.event_id for e in stored] == [
        EventEnvelope.id_for(need_id, e.version) for e in stored
    ]
    snap = await n.snapshot(need_id)
    assert snap.version == len(stored) and snap.state.progress_count == 2
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "caught_up_after_a_lost_attempt")


async def test_a_stored_batch_of_someone_else_does_not_answer_an_action(dev_needs: Needs) -> None:
    """The stream holds a note that a colleague's lost task stored; this staff member's own
    note is of the same type but must still be decided and stored, not answered by theirs."""
    n = dev_needs
    need_id, grid, version = await _accepted_by_the_grid(n)
    colleague = Actor(id="staff-colleague", role=Role.STAFF, unit="grid-dongting-1")
    await n.store.append(
        need_id, version, _notes_of_a_lost_task(need_id, version, colleague, ["their note"])
    )
    result = await n.act(need_id, grid, NoteProgress(note="my note"))
    assert result.events == ["ProgressNoted"]
    stored = await n.stored(need_id)
    assert [(e.version, e.actor.id) for e in stored[version:]] == [
        (version + 1, "staff-colleague"),
        (version + 2, grid.id),
    ]
    assert (await n.snapshot(need_id)).state.progress_count == 2
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "caught_up_with_a_colleagues_note")


async def _accepted_by_the_grid(n: Needs) -> tuple[str, Actor, int]:
    """A need accepted by its grid: (need id, the grid's staff actor, stream version)."""
    need_id = await n.submit_assigned(a_need("路灯坏了"))
    grid = staff("grid-dongting-1")
    await n.act(need_id, grid, Accept())
    return need_id, grid, (await n.snapshot(need_id)).version


def _notes_of_a_lost_task(
    need_id: str, version: int, actor: Actor, notes: list[str]
) -> list[EventEnvelope]:
    """Notes as a lost workflow task stored them: after `version`, ids named by version."""
    return [
        EventEnvelope.wrap(
            ProgressNoted(note=note),
            event_id=EventEnvelope.id_for(need_id, version + i),
            stream_id=need_id,
            version=version + i,
            actor=actor,
            occurred_at=datetime.now(UTC),
        )
        for i, note in enumerate(notes, start=1)
    ]


async def test_the_web_ui_shows_each_need_s_state_without_personal_data(dev_needs: Needs) -> None:
    n = dev_needs
    submission = a_need("路灯坏了，晚上很黑")
    need_id = await n.submit(submission)
    await n.wait_for(need_id, lambda s: s.state.stage == Stage.ASSIGNMENT)
    metadata = await n.client.get_workflow_handle(need_id).query("__temporal_workflow_metadata")
    details = metadata.current_details
    assert details.startswith("daily_life · grid-dongting-1 · assignment · due ")
    assert details.endswith(" CST")
    for private in (submission.title, submission.requester.name or "", "洞庭街"):
        assert not private or private not in details
