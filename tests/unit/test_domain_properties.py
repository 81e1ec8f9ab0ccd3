"""Property: any sequence of commands run through `decide` folds into a sound state."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import commands as c
from domain.errors import DomainError
from domain.events import EVENT_ADAPTER, EventEnvelope
from domain.model import (
    Actor,
    Category,
    Channel,
    Outcome,
    Rating,
    Requester,
    RequesterKind,
    Role,
    ServiceMode,
    Stage,
    Tier,
    Urgency,
)
from domain.state import STAGE_TRANSITIONS, NeedState, evolve, fold, next_deadline
from store import fold as store_fold
from tests.unit.domain_kit import (
    DISPATCHER,
    POLICY,
    RESIDENT,
    SUPERVISOR,
    SYSTEM,
    Story,
    staff,
    submission,
    summary_of,
)

TITLES = [
    "楼下路灯不亮",
    "员工健康证换证",
    "857号卫生脏乱",
    "有个问题想问问",
    "人才公寓申请",
    "下个月退休",
]
KINDS = [RequesterKind.RESIDENT, RequesterKind.ENTERPRISE, RequesterKind.TALENT]
UNITS = [u.id for u in POLICY.units]
COUNTERS = (
    "version",
    "return_count",
    "escalation_count",
    "reopen_count",
    "extension_count",
    "reminder_count",
    "progress_count",
)


def actor_for(state: NeedState, pick: int) -> Actor:
    """Mostly the actor the command needs, sometimes someone else."""
    owner = [staff(state.assigned_unit)] * 2 if state.assigned_unit else []
    approver = [staff(state.pending_extension.approver_unit)] if state.pending_extension else []
    reviewers = [
        Actor(id=r.reviewer_id, role=Role.REQUESTER, unit=r.reviewer_id) for r in state.reviewers
    ]
    choices = [
        *owner,
        *approver,
        *reviewers,
        DISPATCHER,
        SUPERVISOR,
        RESIDENT,
        SYSTEM,
        staff("grid-qinghe-2"),
    ]
    return choices[pick % len(choices)]


def evaluation(pick: int, rating: Rating) -> object:
    return ("evaluate", pick, rating)


COMMANDS = st.one_of(
    st.builds(
        lambda t, k: c.Submit(submission=submission(t, kind=k)),
        st.sampled_from(TITLES),
        st.sampled_from(KINDS),
    ),
    st.builds(
        lambda f: c.ProvideInformation(fields={f: "1"}),
        st.sampled_from(["staff_count", "position", "photo"]),
    ),
    st.just(c.RequestInformation(missing_fields=["photo"])),
    st.builds(
        lambda n: c.LinkReport(
            linked_stream_id=f"need-app-{n}",
            channel=Channel.APP,
            requester=Requester(requester_id=f"res-{n}", kind=RequesterKind.RESIDENT),
        ),
        st.integers(2, 4),
    ),
    st.builds(c.Classify, category=st.sampled_from(Category), tier=st.sampled_from(Tier)),
    st.builds(
        c.Reclassify,
        category=st.sampled_from(Category),
        tier=st.sampled_from(Tier),
        urgency=st.sampled_from(Urgency),
        reason=st.just("fix"),
    ),
    st.builds(c.Assign, unit_id=st.one_of(st.none(), st.sampled_from(UNITS))),
    st.just(c.Return(reason="not ours")),
    st.just(c.Accept()),
    st.builds(c.Reassign, unit_id=st.sampled_from(UNITS)),
    st.just(c.Remind()),
    st.just(c.Supervise(note="report in writing")),
    st.just(c.ReplySupervision(reply="on it")),
    st.just(c.NoteProgress(note="working")),
    st.builds(c.RequestExtension, extra_hours=st.integers(1, 16), reason=st.just("parts")),
    st.builds(c.DecideExtension, approve=st.booleans()),
    st.just(c.Complete(result_summary="done", service_mode=ServiceMode.ON_SITE)),
    st.just(  # accepted or not: a supervisor completes it in a co-building project's name
        c.CompleteByProject(project_id="prj-1", project_name="共建", result_summary="done")
    ),
    st.builds(evaluation, st.integers(0, 5), st.sampled_from(Rating)),
    st.just("timer"),
    st.just("timer"),
    st.just("next"),
    st.just("next"),
    st.just("next"),
)
STEP = st.tuples(COMMANDS, st.integers(0, 600), st.integers(0, 20))


def next_step(state: NeedState, pick: int) -> tuple[c.Command, Actor]:
    """The command that moves the need on from its stage, by the actor who may give it."""
    owner = staff(state.assigned_unit) if state.assigned_unit else DISPATCHER
    if state.pending_information:
        fields = {f: "1" for f in state.pending_information.missing_fields}
        return c.ProvideInformation(fields=fields), RESIDENT
    if state.stage == Stage.CLASSIFICATION:
        return c.Classify(category=list(Category)[pick % 9], tier=list(Tier)[pick % 3]), DISPATCHER
    if state.stage == Stage.ASSIGNMENT:
        return (c.Accept(), owner) if state.assigned_unit else (c.Assign(), DISPATCHER)
    if state.stage == Stage.HANDLING and state.pending_extension:
        approver = staff(state.pending_extension.approver_unit)
        return c.DecideExtension(approve=pick % 2 == 0), approver
    if state.stage == Stage.HANDLING:
        return c.Complete(result_summary="done", service_mode=ServiceMode.ONLINE), owner
    waiting = [r.reviewer_id for r in state.reviewers if r.reviewer_id not in state.ratings]
    reviewer = waiting[0] if waiting else "res-1"
    rating = list(Rating)[pick % 3]
    return c.Evaluate(reviewer_id=reviewer, rating=rating), Actor(
        id=reviewer, role=Role.REVIEWER, unit=reviewer
    )


def concrete(state: NeedState, drawn: object) -> c.Command:
    if isinstance(drawn, tuple):
        _, pick, rating = drawn
        ids = [r.reviewer_id for r in state.reviewers] or ["res-1"]
        return c.Evaluate(reviewer_id=ids[pick % len(ids)], rating=rating)
    return drawn  # type: ignore[return-value]


def check_invariants(state: NeedState, story: Story) -> None:
    assert all(getattr(state, name) >= 0 for name in COUNTERS)
    assert state.version == len(story.history)
    assert fold(story.history) == state, "replaying the history rebuilds the same state"
    row = folded_row(story)
    expected = summary_of(state)
    assert {k: row[k] for k in expected} == expected, "the summary row reads as the state"
    assert state.warnings_issued <= {50, 75, 100}
    assert set(state.ratings) <= {r.reviewer_id for r in state.reviewers}
    if state.stage == Stage.HANDLING:
        assert state.assigned_unit and state.due_at
    if state.stage == Stage.ASSIGNMENT and state.assigned_unit:
        assert state.accept_due_at
    if state.stage == Stage.EVALUATION:
        assert state.reviewers and state.evaluation_due_at
    if state.pending_information:
        assert state.stage in (Stage.COLLECTION, Stage.HANDLING)
    if state.stage == Stage.CLOSED:
        assert state.outcome is not None and next_deadline(state) is None
    if state.outcome == Outcome.NO_RESPONSE:
        assert state.satisfied is None
    if state.satisfied:
        assert state.ratings and Rating.UNSATISFIED not in state.ratings.values()


def folded_row(story: Story) -> dict[str, object]:
    """The summary row store.fold makes of the story's events, one append at a time."""
    envelopes = [
        EventEnvelope.wrap(
            e, event_id=f"e-{v}", stream_id="need-app-0", version=v, actor=actor, occurred_at=at
        )
        for v, (e, (at, actor)) in enumerate(
            zip(story.history, story.moments, strict=True), start=1
        )
    ]
    row = None
    for envelope in envelopes:
        row, _ = store_fold.fold(row, "need-app-0", [envelope])
    whole, _ = store_fold.fold(None, "need-app-0", envelopes)
    assert row == whole, "folding append by append equals a rebuild from all events"
    return row or {}


def apply_checked(story: Story, command: c.Command, actor: Actor) -> None:
    before = story.state
    try:
        events = story.run(command, actor)
    except DomainError:
        assert story.state == before
        return
    if before.stage == Stage.CLOSED:
        assert events == []
    current = before
    for event in events:
        assert EVENT_ADAPTER.validate_python(event.model_dump(mode="json")) == event
        after = evolve(current, event)
        assert after.stage in STAGE_TRANSITIONS[current.stage], (current.stage, event.type)
        current = after


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.data())
def test_any_valid_command_sequence_keeps_the_invariants(data):
    story = Story()
    story.submit(
        data.draw(
            st.builds(
                lambda t, k: submission(t, kind=k), st.sampled_from(TITLES), st.sampled_from(KINDS)
            )
        )
    )
    for drawn, minutes, pick in data.draw(st.lists(STEP, min_size=5, max_size=40)):
        if drawn == "timer":
            upcoming = next_deadline(story.state)
            if upcoming is None:
                continue
            story.at(max(story.now, upcoming[0]))
            command, actor = upcoming[1], SYSTEM
        elif drawn == "next":
            story.later(minutes=minutes)
            command, actor = next_step(story.state, pick)
        else:
            story.later(minutes=minutes)
            command, actor = concrete(story.state, drawn), actor_for(story.state, pick)
        apply_checked(story, command, actor)
        check_invariants(story.state, story)


@settings(max_examples=40, deadline=None, database=None)
@given(st.lists(st.sampled_from(TITLES), min_size=1, max_size=1))
def test_following_only_the_timers_always_ends_in_a_closed_or_waiting_need(titles):
    story = Story()
    story.submit(submission(titles[0]))
    for _ in range(60):
        upcoming = next_deadline(story.state)
        if upcoming is None:
            break
        story.at(max(story.now, upcoming[0])).run(upcoming[1])
        if story.state.stage == Stage.HANDLING and story.state.assigned_unit:
            story.run(
                c.Complete(result_summary="done", service_mode=ServiceMode.ONLINE),
                staff(story.state.assigned_unit),
            )
    assert next_deadline(story.state) is None
    assert story.state.stage in (Stage.CLOSED, Stage.CLASSIFICATION, Stage.ASSIGNMENT)
