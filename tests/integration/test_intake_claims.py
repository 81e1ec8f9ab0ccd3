"""Repeated reports arriving at the same moment see each other: the intake claims.

A need reaches `need_summary` only with its first append; before that, only its claim
(activities/duplicates.py) tells the next report of it that it exists.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from activities.duplicates import DuplicateActivities
from domain.collection import matches
from domain.commands import Submission
from domain.model import Channel, Location, Requester, RequesterKind
from store import samples
from store.eventstore import EventStore
from tests.unit.domain_kit import POLICY
from workflows.messages import DuplicateQuery

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def lamp_report() -> Submission:
    """A street lamp at a building of its own, so no other test's needs are candidates."""
    place = Location(
        street="street-hanzheng",
        community="community-dongting",
        grid="grid-dongting-1",
        building=f"b-{uuid.uuid4().hex[:8]}",
    )
    return Submission(
        channel=Channel.APP,
        external_id=f"ext-{uuid.uuid4().hex}",
        title="路灯不亮",
        location=place,
        requester=Requester(requester_id="res-claims", kind=RequesterKind.RESIDENT),
    )


def query(stream_id: str, report: Submission, now: datetime) -> DuplicateQuery:
    found = DuplicateQuery.for_submission(stream_id, report, POLICY, now)
    assert found is not None  # the rules name a category for a street lamp
    return found


async def test_a_report_sees_a_need_whose_events_are_not_stored_yet(
    store: EventStore, pool: asyncpg.Pool
):
    duplicates, report = DuplicateActivities(pool), lamp_report()
    first, second = samples.new_stream_id(), samples.new_stream_id()
    alone = await duplicates.candidates(query(first, report, NOW), claimed_at=NOW)
    assert alone.candidates == []
    later = NOW + timedelta(seconds=1)
    seen = await duplicates.candidates(query(second, report, later), claimed_at=later)
    assert [c.stream_id for c in seen.candidates] == [first]
    assert matches(seen.candidates[0], report, POLICY, now=later)  # the workflow's rule agrees
    again = await duplicates.candidates(query(first, report, NOW), claimed_at=NOW)
    assert again.candidates == []  # a retry of the first: the repeat claimed nothing
    claims = await pool.fetch("SELECT stream_id FROM intake_claims")
    assert [r["stream_id"] for r in claims] == [first]


async def test_intakes_at_the_same_moment_all_find_the_first(store: EventStore, pool: asyncpg.Pool):
    duplicates, report = DuplicateActivities(pool), lamp_report()
    ids = [samples.new_stream_id() for _ in range(6)]
    held = [await pool.acquire() for _ in ids]  # warm connections: the intakes really overlap
    for conn in held:
        await pool.release(conn)
    answers = await asyncio.gather(
        *(duplicates.candidates(query(i, report, NOW), claimed_at=NOW) for i in ids)
    )
    # One after another under the lock: the first claims, every later one finds it (and
    # claims nothing). Without the lock several read before the claim is committed.
    found = [[c.stream_id for c in a.candidates] for a in answers]
    primaries = [i for i, f in zip(ids, found, strict=True) if not f]
    assert len(primaries) == 1 and all(f == primaries for f in found if f), found


async def test_a_summarised_need_is_a_candidate_once_not_twice(
    store: EventStore, pool: asyncpg.Pool
):
    duplicates, report = DuplicateActivities(pool), lamp_report()
    first = samples.new_stream_id()
    await duplicates.candidates(query(first, report, NOW), claimed_at=NOW)
    submitted = samples.submitted().model_copy(update={"location": report.location})
    events = [submitted, *samples.happy_path()[1:3]]  # submitted, classified, assigned
    envelopes = [
        e.model_copy(update={"occurred_at": NOW}) for e in samples.envelopes(first, events)
    ]
    await store.append(first, 0, envelopes)
    later = NOW + timedelta(minutes=5)
    seen = await duplicates.candidates(
        query(samples.new_stream_id(), report, later), claimed_at=later
    )
    assert [c.stream_id for c in seen.candidates] == [first]


async def test_old_claims_are_dropped(store: EventStore, pool: asyncpg.Pool):
    duplicates, report = DuplicateActivities(pool), lamp_report()
    old = samples.new_stream_id()
    await duplicates.candidates(
        query(old, report, NOW - timedelta(days=2)), claimed_at=NOW - timedelta(days=2)
    )
    other = lamp_report()  # another place, same category: its intake drops the old claim
    fresh = samples.new_stream_id()
    await duplicates.candidates(query(fresh, other, NOW), claimed_at=NOW)
    stored = await pool.fetch("SELECT stream_id FROM intake_claims")
    assert [r["stream_id"] for r in stored] == [fresh]


async def test_a_claim_forgets_its_streets_old_claims_in_the_same_statement(
    store: EventStore, pool: asyncpg.Pool
):
    """The word-matcher intake (store.intake): claiming drops the street's claims from before
    the window, never the claim it writes, and a retried claim changes nothing."""
    from domain.repeats import Fingerprint
    from store import intake

    def fingerprint(at: datetime) -> Fingerprint:
        return Fingerprint(
            stream_id=samples.new_stream_id(),
            item="street-lamp",
            category="daily_life",
            street="street-hanzheng",
            community="community-dongting",
            grid="grid-dongting-1",
            places=[f"b:{uuid.uuid4().hex[:8]}"],
            text="路灯不亮",
            submitted_at=at,
        )

    old, new = fingerprint(NOW - timedelta(days=2)), fingerprint(NOW)
    since = NOW - timedelta(days=1)
    async with pool.acquire() as conn:
        await intake.claim(conn, old)
        for _ in range(2):  # the second time: an activity retried
            await intake.claim(conn, new, forget_before=since)
    stored = await pool.fetch("SELECT stream_id, submitted_at FROM intake_claims")
    assert [(r["stream_id"], r["submitted_at"]) for r in stored] == [(new.stream_id, NOW)]


# --- the repeat rules' intake (activities/intake.py): which intakes wait for which ---------


def intake_activities(pool: asyncpg.Pool):
    from pathlib import Path

    from activities.intake import IntakeActivities
    from activities.policy import PolicyActivities

    policy_file = Path(__file__).resolve().parents[2] / "deploy" / "policy.yaml"
    return IntakeActivities(PolicyActivities(policy_file), DuplicateActivities(pool))


def at_building(
    building: str | None, title: str = "路灯不亮了", address: str | None = None
) -> Submission:
    report = lamp_report()
    place = report.location.model_copy(update={"building": building, "address": address})
    return report.model_copy(update={"title": title, "location": place})


async def test_reports_at_one_building_arriving_at_once_merge_into_the_first(
    store: EventStore, pool: asyncpg.Pool
):
    from workflows.messages import IntakeRequest

    activities, building = intake_activities(pool), f"{uuid.uuid4().hex[:6]}栋"
    reports = [at_building(building, t) for t in ("路灯不亮了", "路灯坏了", "路灯不亮，很黑")]
    reports += [at_building(building, "门口路灯坏了好几天")] * 2
    ids = [samples.new_stream_id() for _ in reports]
    held = [await pool.acquire() for _ in ids]  # warm connections: the intakes really overlap
    for conn in held:
        await pool.release(conn)
    answers = await asyncio.gather(
        *(
            activities.prepare_intake(IntakeRequest(stream_id=i, submission=r, now=NOW))
            for i, r in zip(ids, reports, strict=True)
        )
    )
    verdicts = [a.verdict for a in answers]
    assert all(v is not None for v in verdicts)
    primaries = [i for i, v in zip(ids, verdicts, strict=True) if v and v.kind != "merge"]
    # Under the building's lock one after another: the first claims, every later one joins it.
    assert len(primaries) == 1, verdicts
    assert all(v.of_stream_id == primaries[0] for v in verdicts if v and v.kind == "merge")
    claims = await pool.fetch("SELECT stream_id FROM intake_claims")
    assert [r["stream_id"] for r in claims] == primaries


async def lock_waiters(pool: asyncpg.Pool) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database()"
    )


async def test_only_reports_that_could_be_one_need_wait_for_each_other(
    store: EventStore, pool: asyncpg.Pool
):
    """A report held at one building does not hold up another building's report at the same
    address; a report that names no place (it could repeat either) waits until the first
    one's claim is in."""
    from domain.repeats import fingerprint
    from store import intake
    from workflows.messages import IntakeRequest

    activities = intake_activities(pool)
    address = f"洞庭街{uuid.uuid4().int % 10_000}号"
    held = at_building(f"{uuid.uuid4().hex[:6]}栋", address=address)
    first = fingerprint(samples.new_stream_id(), held, POLICY, NOW)
    distance = POLICY.collection.repeats.distance_m
    async with pool.acquire() as conn, conn.transaction():
        await intake.lock_place(conn, first, distance)  # an intake in flight, not committed

        def request(report: Submission) -> IntakeRequest:
            return IntakeRequest(stream_id=samples.new_stream_id(), submission=report, now=NOW)

        other = await asyncio.wait_for(
            activities.prepare_intake(
                request(at_building(f"{uuid.uuid4().hex[:6]}栋", address=address))
            ),
            10,
        )
        assert other.verdict is not None and other.verdict.kind == "none"
        placeless = asyncio.create_task(activities.prepare_intake(request(at_building(None))))
        for _ in range(100):
            if await lock_waiters(pool):
                break
            await asyncio.sleep(0.05)
        assert await lock_waiters(pool) == 1 and not placeless.done()
    answer = await asyncio.wait_for(placeless, 10)  # the lock is gone with the transaction
    assert answer.verdict is not None


async def test_a_report_at_a_building_still_finds_a_placeless_one_behind_many_buildings(
    store: EventStore, pool: asyncpg.Pool
):
    """Claims at other buildings of the community can never be the same need as a report that
    names a building, so they do not crowd the placeless report out of its recent candidates:
    it is found as a possible repeat behind 45 of them (the most recent 40 alone would not)."""
    from domain.repeats import fingerprint
    from store import intake
    from workflows.messages import IntakeRequest

    activities = intake_activities(pool)
    placeless = at_building(None, "门口路灯不亮了，晚上很黑")
    first = fingerprint(samples.new_stream_id(), placeless, POLICY, NOW)
    async with pool.acquire() as conn:
        await intake.claim(conn, first)
        for i in range(45):
            other = at_building(f"{100 + i}栋", "楼道里的灯坏了")
            later = NOW + timedelta(seconds=1 + i)
            await intake.claim(conn, fingerprint(samples.new_stream_id(), other, POLICY, later))
    report = at_building("6栋", "门口路灯不亮了，很黑")
    asked = IntakeRequest(
        stream_id=samples.new_stream_id(), submission=report, now=NOW + timedelta(minutes=5)
    )
    answer = await activities.prepare_intake(asked)
    assert answer.verdict is not None
    assert (answer.verdict.kind, answer.verdict.of_stream_id) == ("possible", first.stream_id)
