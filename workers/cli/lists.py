"""The command line's resource and project lists (资源清单, 项目清单): `demandflow resources
...`, `demandflow projects ...` and `demandflow complete-by-project`. Like every operations
command they talk to the HTTP API (api/lists.py) with your key: a supervisor's scope, and the
actor recorded on every change, are the API's.

Items are written `category/item`, as the demand list names them (`daily_life/street-lamp`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from workers.cli.ops import DEFAULT_URL, AsJson, Key, Url, call, ops, request, table

resources = typer.Typer(add_completion=False, no_args_is_help=True, help="资源清单: resources")
projects = typer.Typer(add_completion=False, no_args_is_help=True, help="项目清单: projects")
AsCsv = Annotated[bool, typer.Option("--csv", help="the list as CSV (for Excel)")]
Items = Annotated[
    list[str] | None,
    typer.Option("--item", help="a demand item category/item; repeat for more"),
]
Summary = Annotated[str, typer.Option("--summary", help="what the project did")]
Mode = Annotated[str, typer.Option("--mode", help="on_site|online|proxy|appointment")]


def items_of(values: list[str] | None) -> list[dict[str, str]]:
    """`category/item` options as the API's items; a malformed one exits 1 naming it."""
    out = []
    for value in values or []:
        category, slash, item = value.partition("/")
        if not slash or not category or not item:
            typer.echo(f"error: --item {value}: write it category/item", err=True)
            raise typer.Exit(1)
        out.append({"category": category, "item": item})
    return out


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    items = ", ".join(f"{i['category']}/{i['item']}" for i in row.get("items") or [])
    return row | {"items": items}


def _listing(path: str, params: dict[str, Any], url: str, key: str, csv_out: bool) -> Any:
    given = {k: v for k, v in params.items() if v is not None}
    if csv_out:
        typer.echo(request(url, key, "GET", path, params=given | {"format": "csv"}).text, nl=False)
        return None
    return call(url, key, "GET", path, params=given)


# --- resources -----------------------------------------------------------------------------
@resources.command("list")
def list_resources(
    status: Annotated[str | None, typer.Option(help="active or retired")] = None,
    kind: Annotated[str | None, typer.Option(help="venue, service or volunteers")] = None,
    owner: Annotated[str | None, typer.Option(help="owner unit id")] = None,
    item: Annotated[str | None, typer.Option(help="only those serving category/item")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """The resources of your scope's units."""
    wanted = items_of([item])[0] if item else {}
    rows = _listing(
        "/lists/resources",
        {"status": status, "kind": kind, "owner_unit": owner} | wanted,
        api_url,
        api_key,
        as_csv,
    )
    if rows is not None:
        shown = rows if as_json else [_flat(r) for r in rows]
        columns = ["id", "owner_unit", "kind", "name", "capacity", "items", "status"]
        table(shown, columns, "resources", as_json)


@resources.command("add")
def add_resource(
    owner: Annotated[str, typer.Option(help="the unit that offers it")],
    kind: Annotated[str, typer.Option(help="venue, service or volunteers")],
    name: Annotated[str, typer.Option(help="its name (no personal data)")],
    description: str = "",
    capacity: Annotated[int | None, typer.Option(help="people or places at once")] = None,
    item: Items = None,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Add a resource; prints its id."""
    body = {
        "owner_unit": owner,
        "kind": kind,
        "name": name,
        "description": description,
        "capacity": capacity,
        "items": items_of(item),
    }
    made = call(api_url, api_key, "POST", "/lists/resources", json=body)
    typer.echo(made["id"])


@resources.command("change")
def change_resource(
    resource_id: str,
    owner: Annotated[str | None, typer.Option(help="the unit that offers it")] = None,
    kind: str | None = None,
    name: str | None = None,
    description: str | None = None,
    capacity: int | None = None,
    item: Annotated[
        list[str] | None, typer.Option("--item", help="the items it serves (replaces them)")
    ] = None,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Change a resource's fields (those given)."""
    body: dict[str, Any] = {
        k: v
        for k, v in {
            "owner_unit": owner,
            "kind": kind,
            "name": name,
            "description": description,
            "capacity": capacity,
        }.items()
        if v is not None
    }
    if item:
        body["items"] = items_of(item)
    changed = call(api_url, api_key, "PATCH", f"/lists/resources/{resource_id}", json=body)
    typer.echo(f"{resource_id}: version {changed['version']}")


@resources.command("retire")
def retire_resource(resource_id: str, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """No longer offered (it stays on the list, retired)."""
    retired = call(api_url, api_key, "POST", f"/lists/resources/{resource_id}/retire")
    typer.echo(f"{resource_id}: {retired['status']}")


@resources.command("show")
def show_resource(
    resource_id: str, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """One resource and its history."""
    row = call(api_url, api_key, "GET", f"/lists/resources/{resource_id}")
    _show(row, as_json)


def _show(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        table([row], [], "", True)
        return
    for key, value in _flat(row).items():
        if key not in ("history", "needs"):
            typer.echo(f"{key}: {value if value is not None else ''}")
    if row.get("needs"):
        typer.echo(f"needs: {row['needs']['open']} open of {row['needs']['total']}")
    table(row.get("history") or [], ["version", "change", "actor_id", "at"], "history")


# --- projects ------------------------------------------------------------------------------
@projects.command("list")
def list_projects(
    status: Annotated[
        str | None, typer.Option(help="planned, running, completed or cancelled")
    ] = None,
    community: str | None = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """The co-building projects of your scope's communities."""
    rows = _listing(
        "/lists/projects", {"status": status, "community": community}, api_url, api_key, as_csv
    )
    if rows is not None:
        shown = rows if as_json else [_flat(r) for r in rows]
        columns = ["id", "name", "community", "items", "starts_on", "ends_on", "status"]
        table(shown, columns, "projects", as_json)


@projects.command("add")
def add_project(
    name: Annotated[str, typer.Option(help="its name")],
    community: Annotated[str, typer.Option(help="the community (or park office) it serves")],
    period_from: Annotated[str, typer.Option(help="needs submitted from YYYY-MM-DD")],
    period_to: Annotated[str, typer.Option(help="… to YYYY-MM-DD")],
    starts: Annotated[str, typer.Option(help="first day YYYY-MM-DD")],
    ends: Annotated[str, typer.Option(help="last day YYYY-MM-DD")],
    owner: Annotated[list[str], typer.Option("--owner", help="an owner unit; repeat for more")],
    item: Annotated[list[str], typer.Option("--item", help="a demand item category/item")],
    resource: Annotated[
        list[str] | None, typer.Option("--resource", help="a resource id; repeat for more")
    ] = None,
    description: str = "",
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Add a co-building project (planned); prints its id."""
    body = {
        "name": name,
        "description": description,
        "community": community,
        "period_from": period_from,
        "period_to": period_to,
        "items": items_of(item),
        "resources": resource or [],
        "owner_units": owner,
        "starts_on": starts,
        "ends_on": ends,
    }
    made = call(api_url, api_key, "POST", "/lists/projects", json=body)
    typer.echo(made["id"])


@projects.command("show")
def show_project(
    project_id: str, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """One project, the needs it covers and its history."""
    _show(call(api_url, api_key, "GET", f"/lists/projects/{project_id}"), as_json)


@projects.command("start")
def start_project(project_id: str, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """planned → running."""
    moved = call(api_url, api_key, "POST", f"/lists/projects/{project_id}/start")
    typer.echo(f"{project_id}: {moved['status']}")


@projects.command("cancel")
def cancel_project(project_id: str, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
    """planned or running → cancelled (its needs stay as they are)."""
    moved = call(api_url, api_key, "POST", f"/lists/projects/{project_id}/cancel")
    typer.echo(f"{project_id}: {moved['status']}")


@projects.command("complete")
def complete_project(
    project_id: str,
    summary: Summary,
    mode: Mode = "on_site",
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """running → completed: its open needs are completed, their requesters asked to rate."""
    body = {"result_summary": summary, "service_mode": mode}
    done = call(api_url, api_key, "POST", f"/lists/projects/{project_id}/complete", json=body)
    typer.echo(f"{project_id}: {done['project']['status']}")
    for need_id in done["completed"]:
        typer.echo(f"{need_id}: evaluation")
    for skipped in done["skipped"]:
        typer.echo(f"{skipped['id']}: left in {skipped['stage']} ({skipped['reason']})")


@ops.command("complete-by-project")
def complete_by_project(
    need_id: str,
    project: Annotated[str, typer.Option("--project", help="the project's id")],
    summary: Summary,
    mode: Mode = "on_site",
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """A co-building project covering the need is done: complete it in the project's name."""
    body = {"project_id": project, "result_summary": summary, "service_mode": mode}
    answer = call(api_url, api_key, "POST", f"/needs/{need_id}/complete-by-project", json=body)
    typer.echo(f"{need_id}: {answer['stage']} ({', '.join(answer['events'])})")


ops.add_typer(resources, name="resources")
ops.add_typer(projects, name="projects")
