"""Benchmark 5: supervisor list queries and statistics on many projected needs.

`need_summary` rows are generated (COPY, 100k per batch) with plausible distributions: 25
units, 9 categories, stages mostly closed, two years of submissions, ~10 % of open needs
overdue; `unit_monthly_stat_slots` gets counters for every unit, month and slot. Each query
runs with varied parameters; p50/p99 are taken first without migration 0003's list indexes
(dropped after migrating, so the rows load faster and the gain stays visible), then with them
(created again from the migration's own list), which is the schema the product runs.
"""

from __future__ import annotations

import importlib.util
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.util import console, pcts, progress
from store.columns import STAT_COUNTERS, STAT_SLOTS, SUMMARY_COLUMNS
from store.migrations import versions

UNITS = [
    ("grid-dongting-1", "grid"),
    ("grid-dongting-2", "grid"),
    ("grid-qinghe-1", "grid"),
    ("grid-qinghe-2", "grid"),
    ("grid-xinhua-1", "grid"),
    ("grid-xinhua-2", "grid"),
    ("community-dongting", "community"),
    ("community-qinghe", "community"),
    ("community-xinhua", "community"),
    ("street-hanzheng", "street"),
    ("dept-social-security", "department"),
    ("dept-health", "department"),
    ("dept-market", "department"),
    ("dept-tax", "department"),
    ("dept-police", "department"),
    ("dept-hr", "department"),
    ("dept-talent", "department"),
    ("dept-construction", "department"),
    ("dept-urban", "department"),
    ("dept-justice", "department"),
    ("team-green", "service_team"),
    ("team-blue", "service_team"),
    ("team-red", "service_team"),
    ("team-orange", "service_team"),
    ("supervision-district", "supervision"),
]
CATEGORIES = [
    "government_affairs",
    "daily_life",
    "legal",
    "culture_sports",
    "care",
    "party_member",
    "enterprise_affairs",
    "talent",
    "worker_care",
]
TIERS = ["grid", "community", "street"]
STAGES = (
    ["closed"] * 70
    + ["handling"] * 12
    + ["evaluation"] * 8
    + ["assignment"] * 5
    + ["classification"] * 3
    + ["collection"] * 2
)
CHANNELS = ["app", "wechat", "hotline", "grid_visit", "joint_meeting", "open311"]
NOW = datetime(2026, 11, 20, tzinfo=UTC)
SPAN_DAYS = 730
PAGE = 50


def migrated_list_indexes() -> dict[str, str]:
    """Migration 0003's indexes by name (the migration module is the one source of them)."""
    path = Path(versions.__file__).parent / "0003_supervisor_list_indexes.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {ddl.split()[0]: f"CREATE INDEX IF NOT EXISTS {ddl}" for ddl in module.INDEXES}


LIST_COLS = (
    "stream_id, stage, title, category, tier, urgency, assigned_unit, due_at, overdue, submitted_at"
)
QUERIES: dict[str, str] = {
    # supervisor: overdue open needs, most overdue first
    "list_overdue": f"SELECT {LIST_COLS} FROM need_summary WHERE overdue AND stage <> 'closed' "
    f"ORDER BY due_at NULLS LAST, stream_id LIMIT {PAGE}",
    # one unit's needs in one stage by due time (what a unit page or a drill-down shows)
    "list_unit_stage": f"SELECT {LIST_COLS} FROM need_summary WHERE assigned_unit = $1 "
    f"AND stage = $2 ORDER BY due_at NULLS LAST, stream_id LIMIT {PAGE}",
    # category + tier within a date range, newest first
    "list_category_period": f"SELECT {LIST_COLS} FROM need_summary WHERE category = $1 AND tier = $2 "
    f"AND submitted_at >= $3 AND submitted_at < $4 "
    f"ORDER BY submitted_at DESC, stream_id DESC LIMIT {PAGE}",
    # the same, page 5 by keyset (cursor = last row of page 4)
    "list_category_keyset_p5": f"SELECT {LIST_COLS} FROM need_summary WHERE category = $1 AND tier = $2 "
    f"AND submitted_at >= $3 AND (submitted_at, stream_id) < ($4, $5) "
    f"ORDER BY submitted_at DESC, stream_id DESC LIMIT {PAGE}",
    # every open need by due time, page 10 by OFFSET (what a naive UI does)
    "list_open_offset_p10": f"SELECT {LIST_COLS} FROM need_summary WHERE stage <> 'closed' "
    f"ORDER BY due_at NULLS LAST, stream_id LIMIT {PAGE} OFFSET {PAGE * 9}",
    # statistics: every unit's counters and rates for one month (the projection's view)
    "stats_month_all_units": "SELECT * FROM unit_monthly_rates WHERE month = $1 ORDER BY unit_id",
    "stats_unit_month": "SELECT * FROM unit_monthly_rates WHERE unit_id = $1 AND month = $2",
    # statistics computed from need_summary: per unit over one month of submissions
    "stats_per_unit_from_summary": "SELECT assigned_unit, count(*) AS needs, count(*) FILTER (WHERE stage = 'closed') AS closed, "
    "count(*) FILTER (WHERE overdue) AS overdue, avg(satisfied::int) AS satisfaction "
    "FROM need_summary WHERE submitted_at >= $1 AND submitted_at < $2 GROUP BY assigned_unit",
}


def _row(rng: random.Random, i: int) -> tuple:
    unit, kind = rng.choice(UNITS)
    stage = rng.choice(STAGES)
    submitted = NOW - timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
    open_ = stage != "closed"
    due = (
        submitted + timedelta(hours=rng.randrange(4, 240))
        if stage in ("assignment", "handling")
        else None
    )
    overdue = stage == "handling" and rng.random() < 0.1
    closed_at = submitted + timedelta(days=rng.randrange(1, 20)) if not open_ else None
    task = "accept" if stage == "assignment" else "handle" if stage == "handling" else None
    values = {
        "stream_id": f"need-app-{i:016x}",
        "stage": stage,
        "channel": rng.choice(CHANNELS),
        "external_id": f"ext-{i}",
        "title": "路灯坏了",
        "category": rng.choice(CATEGORIES),
        "tier": rng.choice(TIERS),
        "urgency": "normal",
        "assigned_unit": unit if stage not in ("collection", "classification") else None,
        "unit_kind": kind,
        "task": task,
        "due_at": due,
        "overdue": overdue,
        "escalations": 0,
        "returns": 0,
        "reopenings": 0,
        "extensions": 0,
        "linked_reports": 0,
        "submitted_at": submitted,
        "accepted_at": None,
        "completed_at": closed_at,
        "closed_at": closed_at,
        "outcome": "resolved" if not open_ else None,
        "satisfied": (rng.random() < 0.9) if not open_ else None,
        "requester_id": f"res-{i % 200000}",
        "requester_kind": "resident",
        "requester_name": "王**",
        "requester_phone": "138******78",
        "organisation": None,
        "street": "street-hanzheng",
        "community": "community-dongting",
        "grid": unit,
        "building": f"b{i % 500}",
        "address": "洞*****",
        "last_version": 9,
        "updated_at": NOW,
        "reminders": 1 if task and i % 10 == 0 else 0,
        "reminded_at": submitted + timedelta(days=1) if task and i % 10 == 0 else None,
        "supervisions": 0,
        "supervision_unit": None,
        "supervision_due_at": None,
    }
    return tuple(values[name] for name in SUMMARY_COLUMNS)


async def load(conn: asyncpg.Connection, rows: int, seed: int = 7) -> float:
    rng = random.Random(seed)
    await conn.execute("TRUNCATE need_summary, unit_monthly_stat_slots")
    columns = list(SUMMARY_COLUMNS)
    start = time.perf_counter()
    batch = 100_000
    with progress(f"queries: COPY {rows:,} need_summary rows", rows) as advance:
        for first in range(0, rows, batch):
            records = [_row(rng, i) for i in range(first, min(rows, first + batch))]
            await conn.copy_records_to_table("need_summary", records=records, columns=columns)
            advance(len(records))
    months = sorted(
        {
            date(d.year, d.month, 1)
            for d in (NOW - timedelta(days=k) for k in range(0, SPAN_DAYS, 15))
        }
    )
    stats = [
        (u, m, s, *(rng.randrange(0, 40) for _ in STAT_COUNTERS))
        for u, _ in UNITS
        for m in months
        for s in range(STAT_SLOTS)
    ]
    await conn.copy_records_to_table(
        "unit_monthly_stat_slots",
        records=stats,
        columns=["unit_id", "month", "slot", *STAT_COUNTERS],
    )
    await conn.execute("VACUUM ANALYZE need_summary")
    await conn.execute("VACUUM ANALYZE unit_monthly_stat_slots")
    return time.perf_counter() - start


def _params(rng: random.Random, name: str, cursors: dict) -> tuple:
    unit = rng.choice(UNITS)[0]
    month_start = datetime(2026, rng.randrange(1, 11), 1, tzinfo=UTC)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    if name == "list_unit_stage":
        return unit, rng.choice(["handling", "assignment", "evaluation"])
    if name == "list_category_period":
        return (
            rng.choice(CATEGORIES),
            rng.choice(TIERS),
            month_start - timedelta(days=90),
            month_end,
        )
    if name == "list_category_keyset_p5":
        key = (rng.choice(CATEGORIES), rng.choice(TIERS))
        since, cursor = cursors[key]
        return (*key, since, *cursor)
    if name == "stats_month_all_units":
        return (month_start.date(),)
    if name == "stats_unit_month":
        return unit, month_start.date()
    if name == "stats_per_unit_from_summary":
        return month_start, month_end
    return ()


async def _keyset_cursors(conn: asyncpg.Connection) -> dict:
    """For each category/tier: the last row of page 4 of the last year's list."""
    since = NOW - timedelta(days=365)
    out = {}
    for c in CATEGORIES:
        for t in TIERS:
            row = await conn.fetchrow(
                "SELECT submitted_at, stream_id FROM need_summary WHERE category = $1 AND tier = $2 "
                f"AND submitted_at >= $3 ORDER BY submitted_at DESC, stream_id DESC "
                f"OFFSET {PAGE * 4 - 1} LIMIT 1",
                c,
                t,
                since,
            )
            out[(c, t)] = (since, (row["submitted_at"], row["stream_id"]))
    return out


async def measure(conn: asyncpg.Connection, runs: int) -> dict:
    rng = random.Random(11)
    cursors = await _keyset_cursors(conn)
    out = {}
    with progress(f"queries: {len(QUERIES)} queries × {runs} runs", len(QUERIES) * runs) as advance:
        for name, sql in QUERIES.items():
            stmt = await conn.prepare(sql)
            await stmt.fetch(*_params(rng, name, cursors))  # warm the cache once
            times = []
            for _ in range(runs):
                args = _params(rng, name, cursors)
                t0 = time.perf_counter()
                await stmt.fetch(*args)
                times.append((time.perf_counter() - t0) * 1000)
                advance(1)
            plan = await conn.fetchval(f"EXPLAIN (FORMAT TEXT) {sql}", *_params(rng, name, cursors))
            out[name] = pcts(times) | {"plan_top": plan.splitlines()[0].strip()[:120]}
    return out


async def bench_queries(owner_url_dsn: str, rows: int, runs: int) -> dict:
    """`owner_url_dsn`: asyncpg DSN of the cluster; a fresh database `bench_queries_<hex>`."""
    admin = await asyncpg.connect(owner_url_dsn)
    name = f"bench_queries_{uuid.uuid4().hex[:6]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        from sqlalchemy.engine import make_url

        from store.migrate import upgrade_async

        sa_url = make_url(owner_url_dsn).set(drivername="postgresql+asyncpg", database=name)
        await upgrade_async(sa_url.render_as_string(hide_password=False))
        conn = await asyncpg.connect(
            make_url(owner_url_dsn).set(database=name).render_as_string(hide_password=False)
        )
        indexes = migrated_list_indexes()
        try:
            for index in indexes:
                await conn.execute(f"DROP INDEX {index}")
            load_s = await load(conn, rows)
            console.print(f"  loaded {rows:,} rows in {load_s:.1f} s")
            before = await measure(conn, runs)
            t0 = time.perf_counter()
            for ddl in indexes.values():
                await conn.execute(ddl)
            await conn.execute("ANALYZE need_summary")
            index_s = time.perf_counter() - t0
            after = await measure(conn, runs)
            size = await conn.fetchval(
                "SELECT pg_size_pretty(pg_total_relation_size('need_summary'))"
            )
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "rows": rows,
        "runs_per_query": runs,
        "load_seconds": round(load_s, 1),
        "table_size_with_indexes": size,
        "index_build_seconds": round(index_s, 1),
        "page_size": PAGE,
        "without_0003_indexes": before,
        "as_migrated": after,
        "indexes_0003": indexes,
        "targets_p99_ms": {"list": 50, "stats": 200},
    }
