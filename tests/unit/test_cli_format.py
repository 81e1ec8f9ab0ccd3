"""What the command line shows a person (issue 19, item 8): times in Asia/Shanghai, rates as
percentages, ids as they are; `--json` gives the rows unformatted."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from workers.cli.ops import cell, inbox_flags, reasons, table


def test_times_rates_and_ids_as_a_person_reads_them() -> None:
    assert cell("due_at", "2026-06-01T02:00:00+00:00") == "2026-06-01 10:00"
    assert cell("occurred_at", "2026-12-31T16:30:00Z") == "2027-01-01 00:30"
    assert cell("satisfaction_rate", 0.8567) == "85.7 %"
    assert cell("response_rate", None) == ""
    assert cell("id", "app:integrator-demo:ext-1") == "app:integrator-demo:ext-1"
    assert cell("due_at", "not a time") == "not a time"


def test_json_rows_are_printed_unformatted(capsys) -> None:
    rows = [{"id": "n-1", "due_at": "2026-06-01T02:00:00+00:00", "satisfaction_rate": 0.5}]
    table(rows, ["id", "due_at"], "needs", as_json=True)
    assert json.loads(capsys.readouterr().out) == rows


def test_the_timeline_shows_reasons_and_results() -> None:
    assert "不在本网格" in reasons({"unit_id": "grid-dongting-1", "reason": "不在本网格"})
    assert "换了灯泡" in reasons({"result_summary": "换了灯泡", "service_mode": "on_site"})
    assert reasons({"rating": "satisfied", "via": "phone_callback"}) == "satisfied"


def test_inbox_flags_name_what_needs_attention() -> None:
    assert inbox_flags({"overdue": False, "near_deadline": False, "reminded": False}) == ""
    assert inbox_flags({"overdue": True, "near_deadline": True}) == "超时"
    assert inbox_flags(
        {
            "near_deadline": True,
            "reminded": True,
            "reminders": 3,
            "supervision_due_at": "2026-12-03T10:00:00Z",
        },
        now=datetime(2026, 12, 3, 9, tzinfo=UTC),
    ) == ("临期\n催办×3\n督办 12-03 18:00")
    # counted reminders to an earlier holder do not flag this one
    assert inbox_flags({"reminded": False, "reminders": 2}) == ""


def test_a_passed_supervision_reply_deadline_says_late() -> None:
    row = {"supervision_due_at": "2026-12-03T10:00:00Z"}
    assert inbox_flags(row, now=datetime(2026, 12, 3, 9, tzinfo=UTC)) == "督办 12-03 18:00"
    assert inbox_flags(row, now=datetime(2026, 12, 3, 11, tzinfo=UTC)) == "督办逾期"


def test_the_need_list_fits_80_columns_with_whole_ids(capsys, monkeypatch) -> None:
    from rich.console import Console

    from workers.cli import ops

    monkeypatch.setattr(ops, "console", Console(width=80, force_terminal=False))
    need_id = "need-door_knocking-dc7bb83fbffc8a99"
    row = {
        "id": need_id,
        "stage": "classification",
        "title": "租房合同纠纷想咨询",
        "assigned_unit": "community-dongting",
        "due_at": "2026-12-03T05:00:00Z",
        "flags": "超时",
    }
    table([row], ["id", "stage", "title", "assigned_unit", "due_at", "flags"], "needs")
    out = capsys.readouterr().out
    assert need_id in out and "待分类" in out and "超时" in out and "租房合同" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_a_plan_recurrence_in_a_few_words() -> None:
    from workers.cli.plans import _when

    assert _when({"kind": "monthly", "weekday": 2, "week": -1}) == "每月最后一个周二"
    assert _when({"kind": "monthly", "day_of_month": 15}) == "每月 15 日"
    assert _when({"kind": "weekly", "weekday": 3}) == "每周三"
    assert _when({"kind": "interval", "every_days": 30}) == "每 30 天"
