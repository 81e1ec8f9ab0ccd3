"""Operations sub-commands: they talk to the HTTP API (DEMANDFLOW_API_URL, DEMANDFLOW_API_KEY).

Through the API, not Temporal or the database directly: the access rules, the masking and the
actor recorded on every event are the API's, so a key gives the CLI exactly its holder's rights
and the CLI needs no database password or Temporal address.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from api.console.messages import t
from domain.commands import Submission
from domain.model import Category, Tier, Urgency
from workers.errors import ConfigError

ops = typer.Typer(add_completion=False)
console = Console()
Url = Annotated[
    str, typer.Option("--api-url", envvar="DEMANDFLOW_API_URL", help="base URL of the HTTP API")
]
Key = Annotated[str, typer.Option("--api-key", envvar="DEMANDFLOW_API_KEY", help="your API key")]
DEFAULT_URL = "http://127.0.0.1:8000"


def call(url: str, key: str, method: str, path: str, **kw: Any) -> Any:
    """One request's JSON answer (see `request`)."""
    return request(url, key, method, path, **kw).json()


def request(url: str, key: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """One request; API errors print one line and exit 1, an unreachable API exits 2."""
    try:
        response = httpx.request(
            method, url.rstrip("/") + path, headers={"X-API-Key": key}, timeout=30, **kw
        )
    except httpx.HTTPError as exc:
        raise ConfigError(
            f"the API at {url} does not answer ({type(exc).__name__}); "
            "start it or set DEMANDFLOW_API_URL"
        ) from None
    if response.status_code >= 400:
        typer.echo(f"error {response.status_code}: {describe(response)}", err=True)
        raise typer.Exit(1)
    return response


def describe(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
    return error["message"] + (f" (field {error['field']})" if error.get("field") else "")


AsJson = Annotated[bool, typer.Option("--json", help="the rows as JSON, unformatted")]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LABELLED = {"stage", "task", "category", "tier", "urgency"}


def cell(column: str, value: Any, short: bool = False) -> str:
    """A value as a person reads it: times in Asia/Shanghai to the minute, rates as
    percentages; ids and everything else as they are (so they can be copied, and codes given
    back to the commands). `short`, for the listings: a time of this year without the year,
    and stage, task, category, tier and urgency by their Chinese names (the console's
    catalogue; `--json` and `show` keep the codes)."""
    if value is None:
        return ""
    if short and column in LABELLED:
        return t(column, value)
    if column.endswith("_rate") and isinstance(value, int | float):
        return f"{value * 100:.1f} %"
    if column.endswith("_at") and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            local = moment.astimezone(SHANGHAI)
            this_year = local.year == datetime.now(SHANGHAI).year
            return local.strftime("%m-%d %H:%M" if short and this_year else "%Y-%m-%d %H:%M")
    return str(value)


def inbox_flags(row: dict[str, Any], now: datetime | None = None) -> str:
    """What needs the unit's attention on an inbox row, in the console's words: 超时 (overdue),
    临期 (a deadline warning), 催办×n (urged, not yet completed), 督办 and the reply's due time
    (督办逾期 once it has passed without a reply); for joint handling (联合办理) a sub-task's id
    and status and its lead (the id is what the assist commands take), and on the lead's row
    the sub-tasks still open or declined; one per line, so a narrow column keeps each flag
    whole."""
    flags = ["超时"] if row.get("overdue") else ["临期"] if row.get("near_deadline") else []
    if row.get("reminded"):
        flags.append(f"催办×{row.get('reminders') or 1}")
    due = row.get("supervision_due_at")
    if due:
        try:
            late = datetime.fromisoformat(due) < (now or datetime.now(UTC))
        except (TypeError, ValueError):
            late = False
        flags.append("督办逾期" if late else f"督办 {cell('supervision_due_at', due)[5:]}")
    if row.get("task") == "assist":  # 联合办理: a sub-task for this unit, with its id
        status = t("assist_status", row.get("assist_status") or "requested")
        flags += [f"{row.get('assist_id')} {status}", f"主办 {row.get('lead_unit') or ''}"]
    if row.get("assists_open"):
        flags.append(f"协办未完成×{row['assists_open']}")
    if row.get("assists_declined"):
        flags.append(f"协办退回×{row['assists_declined']}")
    return "\n".join(flags)


IDS = {"id", "need_id"}  # never folded: an id is copied whole
# Short Chinese headers for the listings (values stay the codes the commands take back).
HEADERS = {
    "id": "编号",
    "task": "待办",
    "title": "标题",
    "category": "类别",
    "due_at": "时限",
    "flags": "提示",
    "stage": "阶段",
    "assigned_unit": "承办单位",
    "overdue": "超期",
    "rank": "排名",
    "unit_name": "单位",
    "assigned": "派单",
    "completed": "办结",
    "response_rate": "响应率",
    "on_time_resolution_rate": "按时办结率",
    "satisfaction_rate": "满意率",
    "reminded": "催办",
    "supervised": "督办",
    "community": "社区",
    "kind": "类型",
    "status": "状态",
    "points": "积分",
    "claimant_id": "认领人",
    "lapse_at": "认领到期",
    "wishes": "心愿",
    "unit": "服务单位",
    "when": "周期",
    "needs": "已生成",
    "skipped": "跳过",
    "field": "项目",
    "value": "内容",
    "credited_at": "记分时间",
    "wish_id": "心愿编号",
}


def table(
    rows: list[dict[str, Any]],
    columns: list[str],
    title: str,
    as_json: bool = False,
    labels: dict[str, str] | None = None,
) -> None:
    """The rows at 80 columns; `labels` names the catalogue section that gives a column's
    values their Chinese names (`{"status": "wish_status"}`), beside the usual ones."""
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    # No side rules and one space between columns: room for whole ids at 80 columns. A title
    # goes under its id (the id's width is the widest cell anyway).
    stacked = "id" in columns and "title" in columns
    shown = [c for c in columns if not (stacked and c == "title")]
    out = Table(title=title, box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    for column in shown:
        header = "编号 / 标题" if stacked and column == "id" else HEADERS.get(column, column)
        whole = max((len(str(r.get(column) or "")) for r in rows), default=0)
        out.add_column(header, overflow="fold", min_width=whole if column in IDS else None)
    for row in rows:
        cells = [
            t(labels[c], row.get(c))
            if labels and c in labels and row.get(c)
            else cell(c, row.get(c), short=True)
            for c in shown
        ]
        if stacked:
            cells[shown.index("id")] += "\n" + cell("title", row.get("title"))
        out.add_row(*cells)
    console.print(out)


def read_text(file: Path) -> str:
    """An input file's text, or one line naming the file and the fix."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {file} ({why}); check the path and the file") from None


def read_json(file: Path) -> Any:
    try:
        return json.loads(read_text(file))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{file} is not JSON ({exc.msg}, line {exc.lineno}); fix the "
            "file (a Submission, see docs/api.md)"
        ) from None


@ops.command()
def submit(
    file: Annotated[Path, typer.Argument(help="a Submission as JSON")],
    wait: Annotated[
        bool,
        typer.Option(
            help="print the id once intake is done (routed, or waiting for a dispatcher "
            "or for information), so the next command finds the need there"
        ),
    ] = True,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Submit one need from a JSON file; prints its id."""
    answer = call(api_url, api_key, "POST", "/needs", json=read_json(file))
    need_id = answer["id"]
    if wait and not _settled(api_url, api_key, need_id):
        typer.echo(f"{need_id}: still in intake after 30 s (the worker may be down)", err=True)
    typer.echo(need_id)


def _settled(url: str, key: str, need_id: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{url.rstrip('/')}/needs/{need_id}", headers={"X-API-Key": key}, timeout=10
        )
        if response.status_code == 200 and len(response.json().get("timeline") or []) > 1:
            return True
        time.sleep(0.3)
    return False


@ops.command()
def inbox(
    unit: str, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """A unit's open tasks, most urgent first (due times in Asia/Shanghai)."""
    rows = call(api_url, api_key, "GET", f"/units/{unit}/inbox")
    if not as_json:
        rows = [r | {"flags": inbox_flags(r)} for r in rows]
    table(rows, ["id", "task", "title", "category", "due_at", "flags"], f"inbox of {unit}", as_json)


@ops.command()
def accept(need_id: str, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """Accept a need for your unit."""
    answer = call(api_url, api_key, "POST", f"/needs/{need_id}/accept")
    typer.echo(f"{need_id}: {answer['stage']}")


@ops.command()
def complete(
    need_id: str,
    summary: Annotated[str, typer.Option(help="what was done")],
    mode: Annotated[str, typer.Option(help="on_site|online|proxy|appointment")] = "on_site",
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Report a need handled; evaluation starts."""
    body = {"result_summary": summary, "service_mode": mode}
    answer = call(api_url, api_key, "POST", f"/needs/{need_id}/complete", json=body)
    typer.echo(f"{need_id}: {answer['stage']}")


@ops.command()
def classify(
    need_id: str,
    category: Annotated[Category, typer.Option(help="the category")],
    tier: Annotated[Tier, typer.Option(help="grid, community or street")],
    urgency: Annotated[Urgency, typer.Option(help="the urgency")] = Urgency.NORMAL,
    reason: Annotated[str, typer.Option(help="why (kept in the timeline)")] = "",
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Classify by hand a need the rules left to a dispatcher (supervisors); routing follows."""
    body = {
        "category": category.value,
        "tier": tier.value,
        "urgency": urgency.value,
        "reason": reason,
    }
    answer = call(api_url, api_key, "POST", f"/needs/{need_id}/classify", json=body)
    typer.echo(f"{need_id}: {answer['stage']}")


@ops.command()
def assign(
    need_id: str,
    unit: Annotated[str | None, typer.Option(help="a unit id; none: the routing rules")] = None,
    reason: Annotated[str, typer.Option(help="why (kept in the timeline)")] = "",
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Give a need nobody owns (after a return) to a unit (supervisors, within their scope)."""
    answer = call(
        api_url,
        api_key,
        "POST",
        f"/needs/{need_id}/assign",
        json={"unit_id": unit, "reason": reason},
    )
    typer.echo(f"{need_id}: {answer['stage']}")


@ops.command()
def repeat(
    need_id: str,
    decision: Annotated[str, typer.Argument(help="link (it merges) or dismiss")],
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Settle a possible repeat (supervisors): link it to the need it may repeat, or dismiss."""
    answer = call(
        api_url, api_key, "POST", f"/needs/{need_id}/repeat-decision", json={"decision": decision}
    )
    typer.echo(f"{need_id}: {answer['stage']} ({', '.join(answer['events'])})")


@ops.command()
def unmerge(
    need_id: str,
    reason: Annotated[str, typer.Option(help="why it is another need")],
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Split a merged report back out as a need of its own (supervisors); prints its new id."""
    response = request(
        api_url, api_key, "POST", f"/needs/{need_id}/unmerge", json={"reason": reason}
    )
    typer.echo(response.headers["location"].removeprefix("/needs/"))


@ops.command()
def show(
    need_id: str, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """A need's status and timeline."""
    need = call(api_url, api_key, "GET", f"/needs/{need_id}")
    if as_json:
        typer.echo(json.dumps(need, ensure_ascii=False, indent=1))
        return
    fields = [
        "id",
        "stage",
        "title",
        "category",
        "tier",
        "assigned_unit",
        "due_at",
        "overdue",
        "outcome",
        "possible_repeat_of",
    ]
    rows = [{"field": f, "value": cell(f, need.get(f))} for f in fields]
    if need.get("joined"):
        joined = need["joined"]
        rows.append({"field": "joined", "value": f"{joined['id']} ({joined['stage']})"})
    table(rows, ["field", "value"], need_id)
    timeline = [
        t | {"actor": f"{t['actor']['role']} {t['actor']['id']}", "why": reasons(t.get("detail"))}
        for t in need["timeline"]
    ]
    table(timeline, ["version", "type", "occurred_at", "actor", "why"], "timeline")


def reasons(detail: dict[str, Any] | None) -> str:
    """A timeline entry's reasons in one short cell: rule, score or confidence, words."""
    if not detail:
        return ""
    parts = [
        str(detail[k]) for k in ("rule_id", "best_guess", "decision", "unit_id") if detail.get(k)
    ]
    parts += [
        f"→ {detail[k]}"
        for k in ("into_stream_id", "of_stream_id", "split_stream_id")
        if detail.get(k)
    ]
    parts += [f"{detail[k]:.2f}" for k in ("confidence", "score") if detail.get(k) is not None]
    parts += [
        str(detail[k])
        for k in ("reason", "note", "result_summary", "reply", "rating")
        if detail.get(k) and isinstance(detail[k], str)
    ]
    if detail.get("matched_terms"):
        parts.append("、".join(detail["matched_terms"]))
    if detail.get("missing_fields"):
        parts.append(",".join(detail["missing_fields"]))
    return " ".join(parts)


@ops.command("list")
def list_needs(
    stage: Annotated[
        str | None,
        typer.Option(help="collection, classification, assignment, handling, evaluation or closed"),
    ] = None,
    unit: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    possible_repeat: Annotated[
        bool | None, typer.Option(help="only needs that may repeat another, not yet settled")
    ] = None,
    limit: int = 50,
    as_json: AsJson = False,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Needs you may see, newest first."""
    params = {
        k: v
        for k, v in {
            "stage": stage,
            "unit": unit,
            "category": category,
            "overdue": overdue,
            "possible_repeat": possible_repeat,
            "limit": limit,
        }.items()
        if v is not None
    }
    page = call(api_url, api_key, "GET", "/needs", params=params)
    items = page["items"]
    table(
        items if as_json else [r | {"flags": "超时" if r.get("overdue") else ""} for r in items],
        ["id", "stage", "title", "assigned_unit", "due_at", "flags"],
        "needs",
        as_json,
    )


@ops.command()
def stats(
    month: str | None = None,
    min_needs: int = 5,
    as_json: AsJson = False,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Monthly counters and rates per unit, ranked (rates as percentages)."""
    params = {"min_needs": min_needs} | ({"month": month} if month else {})
    rows = call(api_url, api_key, "GET", "/stats/units", params=params)
    table(
        rows,
        [
            "rank",
            "unit_name",
            "assigned",
            "completed",
            "response_rate",
            "on_time_resolution_rate",
            "satisfaction_rate",
            "reminded",
            "supervised",
        ],
        "unit statistics",
        as_json,
    )


CSV_PERSON = {
    "requester_id": "requester_id",
    "requester_kind": "kind",
    "name": "name",
    "phone": "phone",
    "organisation": "organisation",
}
CSV_PLACE = ("street", "community", "grid", "building", "address")


def row_submission(row: dict[str, str]) -> Submission:
    """A CSV row as a Submission; `details` is `key=value;key=value`."""
    details = dict(p.split("=", 1) for p in (row.get("details") or "").split(";") if "=" in p)
    person = {field: row[column] for column, field in CSV_PERSON.items() if row.get(column)}
    return Submission.model_validate(
        {
            "channel": row.get("channel") or "staff_entry",
            "external_id": row.get("external_id"),
            "title": row.get("title"),
            "description": row.get("description") or "",
            "category_hint": row.get("category_hint") or None,
            "details": details,
            "requester": person,
            "location": {k: row[k] for k in CSV_PLACE if row.get(k)},
        }
    )


@ops.command("import-csv")
def import_csv(file: Path, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """Submit every valid row of a CSV file; report invalid rows (row number, field)."""
    rows = list(csv.DictReader(io.StringIO(read_text(file), newline="")))
    problems: list[tuple[int, str, str]] = []
    sent = 0
    with Progress(console=console) as progress, httpx.Client(timeout=30) as http:
        task = progress.add_task("submitting", total=len(rows))
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            problem = _import_row(http, api_url, api_key, row)
            if problem:
                problems.append((number, *problem))
            else:
                sent += 1
            progress.advance(task)
    for number, field, message in problems:
        typer.echo(f"row {number}: {field}: {message}", err=True)
    typer.echo(f"submitted {sent} of {len(rows)} rows, {len(problems)} rejected")
    raise typer.Exit(1 if problems else 0)


def _import_row(
    http: httpx.Client, url: str, key: str, row: dict[str, str]
) -> tuple[str, str] | None:
    try:
        submission = row_submission(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        return ".".join(map(str, first["loc"])) or "row", first["msg"]
    try:
        response = http.post(
            url.rstrip("/") + "/needs",
            headers={"X-API-Key": key},
            json=submission.model_dump(mode="json"),
        )
    except httpx.HTTPError as exc:
        return "request", type(exc).__name__
    if response.status_code >= 400:
        return (
            response.json().get("error", {}).get("field") or "request"
            if response.headers.get("content-type", "").startswith("application/json")
            else "request"
        ), describe(response)
    return None


@ops.command()
def webhooks(as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """Your webhook subscriptions (admins: everyone's)."""
    rows = call(api_url, api_key, "GET", "/webhooks")
    table(rows, ["id", "url", "types", "created_at"], "webhook subscriptions", as_json)


@ops.command()
def deliveries(
    status: Annotated[
        str | None, typer.Option(help="pending | delivered | dead (the dead letter) | cancelled")
    ] = None,
    subscription: str | None = None,
    limit: int = 50,
    as_json: AsJson = False,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Webhook deliveries, newest first: yours, or (admins) everyone's."""
    params = {
        k: v
        for k, v in {"status": status, "subscription_id": subscription, "limit": limit}.items()
        if v is not None
    }
    rows = call(api_url, api_key, "GET", "/webhooks/deliveries", params=params)
    table(
        rows,
        ["id", "need_id", "event_type", "status", "attempts", "last_status", "last_error"],
        "webhook deliveries",
        as_json,
    )


@ops.command()
def redeliver(
    delivery: Annotated[
        int | None, typer.Argument(help="a dead delivery's id; none: every dead letter")
    ] = None,
    subscription: str | None = None,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Admins: put dead letters back in the queue with a fresh retry window."""
    if delivery is not None:
        answer = call(api_url, api_key, "POST", f"/webhooks/deliveries/{delivery}/redeliver")
    else:
        params = {"subscription_id": subscription} if subscription else {}
        answer = call(api_url, api_key, "POST", "/webhooks/dead-letter/redeliver", params=params)
    typer.echo(f"redelivered {answer['redelivered']}")
