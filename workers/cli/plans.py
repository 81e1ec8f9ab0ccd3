"""Service plans on the command line (`demandflow plan ...`), through the HTTP API: a
supervisor's key, or the serving unit's staff for their own unit's plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from domain.plans import Recurrence, recurrence_words
from workers.cli.ops import DEFAULT_URL, AsJson, Key, Url, call, read_json, table

plan = typer.Typer(
    name="plan",
    help="定期服务: recurring service plans and their occurrences",
    no_args_is_help=True,
)
PlanId = Annotated[str, typer.Argument(help="the plan's id (plan-<16 hex>)")]
Reason = Annotated[str, typer.Option(help="why (kept on the plan's history)")]


def _when(recurrence: dict[str, Any]) -> str:
    return recurrence_words(Recurrence.model_validate(recurrence))


def _rows(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p | {"when": _when(p["recurrence"]), "needs": len(p["occurrences"])} for p in plans]


@plan.command("list")
def list_plans(as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """The plans you may see."""
    plans = call(api_url, api_key, "GET", "/plans")
    rows = plans if as_json else _rows(plans)
    columns = ["id", "title", "unit", "when", "status", "needs", "skipped"]
    table(rows, columns, "定期服务", as_json, labels={"status": "plan_status"})


@plan.command("show")
def show(
    pid: PlanId, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """A plan, the needs it started, and its history."""
    body = call(api_url, api_key, "GET", f"/plans/{pid}")
    if as_json:
        table([body], [], "", True)
        return
    columns = ["id", "title", "unit", "when", "status", "skipped"]
    table(_rows([body]), columns, "定期服务", labels={"status": "plan_status"})
    table([{"id": n} for n in body["occurrences"]], ["id"], "each occurrence's need")
    table(body["timeline"], ["occurred_at", "type", "actor_role", "detail"], "history")


@plan.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="a plan as JSON (docs/plans.md)")],
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Set up a plan; prints its id."""
    typer.echo(call(api_url, api_key, "POST", "/plans", json=read_json(file))["id"])


@plan.command("pause")
def pause(pid: PlanId, reason: Reason, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """No occurrences until resumed (the schedule pauses too)."""
    body = call(api_url, api_key, "POST", f"/plans/{pid}/pause", json={"reason": reason})
    typer.echo(f"{pid}: {body['status']}")


@plan.command("resume")
def resume(pid: PlanId, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """Occurrences again from the next one due."""
    typer.echo(f"{pid}: {call(api_url, api_key, 'POST', f'/plans/{pid}/resume')['status']}")


@plan.command("change")
def change(
    pid: PlanId,
    file: Annotated[Path, typer.Argument(help="the plan as it should be from now on")],
    reason: Reason,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """A new recurrence, template or serving unit from now on."""
    body = {"spec": read_json(file), "reason": reason}
    typer.echo(
        f"{pid}: {call(api_url, api_key, 'POST', f'/plans/{pid}/change', json=body)['status']}"
    )


@plan.command("end")
def end(pid: PlanId, reason: Reason, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """No more occurrences; the needs started go on."""
    body = call(api_url, api_key, "POST", f"/plans/{pid}/end", json={"reason": reason})
    typer.echo(f"{pid}: {body['status']}")
