"""No monthly rate exceeds 100 % (issue 19, item 9): numerators and denominators counted in the
same month, whatever the month a need was assigned in (migration 0010). Random counters that
keep the per-event invariants (an in-time count never above its count, ratings never above
evaluations), written to the real counter table and read back through the view."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from store.columns import STAT_COUNTERS
from store.db import asyncpg_dsn

RATES = (
    "response_rate",
    "resolution_rate",
    "on_time_resolution_rate",
    "satisfaction_rate",
    "return_rate",
    "reopen_rate",
    "overdue_rate",
)
small = st.integers(min_value=0, max_value=40)


@st.composite
def month_counters(draw: st.DrawFn) -> dict[str, int]:
    c = {
        name: draw(small)
        for name in (
            "assigned",
            "accepted",
            "completed",
            "evaluations",
            "returns",
            "overdue",
            "no_response",
        )
    }
    c["accepted_in_time"] = draw(st.integers(0, c["accepted"]))
    c["completed_in_time"] = draw(st.integers(0, c["completed"]))
    c["satisfied"] = draw(st.integers(0, c["evaluations"]))
    c["unsatisfied"] = c["evaluations"] - c["satisfied"]
    c["reopened"] = draw(st.integers(0, c["evaluations"]))
    c |= {name: draw(small) for name in ("reminded", "supervised")}  # no rate divides them
    c["supervision_missed"] = draw(st.integers(0, c["supervised"]))
    return c


async def _rates(url: str, counters: dict[str, int]) -> asyncpg.Record:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    unit = f"unit-{uuid.uuid4().hex[:10]}"
    try:
        columns = ", ".join(STAT_COUNTERS)
        values = ", ".join(f"${i + 4}" for i in range(len(STAT_COUNTERS)))
        await conn.execute(
            f"INSERT INTO unit_monthly_stat_slots (unit_id, month, slot, {columns}) "
            f"VALUES ($1, $2, $3, {values})",
            unit,
            date(2026, 6, 1),
            0,
            *(counters[c] for c in STAT_COUNTERS),
        )
        return await conn.fetchrow("SELECT * FROM unit_monthly_rates WHERE unit_id = $1", unit)
    finally:
        await conn.execute("DELETE FROM unit_monthly_stat_slots WHERE unit_id = $1", unit)
        await conn.close()


def test_no_rate_exceeds_one(embedded_database: str) -> None:
    @settings(max_examples=60, deadline=None)
    @given(month_counters())
    def check(counters: dict[str, int]) -> None:
        row = asyncio.run(_rates(embedded_database, counters))
        for rate in RATES:
            assert row[rate] is None or 0 <= row[rate] <= 1, (rate, counters, row[rate])

    check()


def test_a_month_that_completes_more_than_it_was_assigned_stays_within_one(
    embedded_database: str,
) -> None:
    counters = dict.fromkeys(STAT_COUNTERS, 0) | {
        "assigned": 1,
        "completed": 4,
        "completed_in_time": 3,
        "returns": 1,
    }
    row = asyncio.run(_rates(embedded_database, counters))
    assert float(row["resolution_rate"]) == 0.8  # 4 of the 5 needs it finished with
    assert float(row["return_rate"]) == 0.2
