"""The micro-wish pool on the command line (`demandflow wish ...`), through the HTTP API like
every operations command: a claimant's key browses and claims, the wall's or the community's
key posts and confirms (api/wishes.py decides who may)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.console.messages import t
from workers.cli.ops import (
    DEFAULT_URL,
    HEADERS,
    AsJson,
    Key,
    Url,
    call,
    cell,
    read_json,
    table,
)

wish = typer.Typer(
    name="wish", help="微心愿: post, browse the pool, claim, fulfil, confirm", no_args_is_help=True
)
WishId = Annotated[str, typer.Argument(help="the wish's id (wish-<16 hex>)")]
COLUMNS = ["id", "title", "community", "kind", "status", "points", "claimant_id", "lapse_at"]


LABELS = {"kind": "wish_kind", "status": "wish_status"}


def _show(row: dict[str, Any], as_json: bool = False) -> None:
    """One wish, a field a line (it would not fit 80 columns as a row)."""
    if as_json:
        table([row], COLUMNS, "", True)
        return
    lines = [
        {
            "field": HEADERS.get(c, c),
            "value": t(LABELS[c], row[c]) if c in LABELS else cell(c, row.get(c)),
        }
        for c in COLUMNS
        if row.get(c) not in (None, "")
    ]
    table(lines, ["field", "value"], "微心愿")


@wish.command("post")
def post(
    file: Annotated[Path, typer.Argument(help="a wish as JSON (see docs/wishes.md)")],
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """Post a wish to its community's pool; prints its id."""
    typer.echo(call(api_url, api_key, "POST", "/wishes", json=read_json(file))["id"])


@wish.command("list")
def list_wishes(
    community: str | None = None,
    status: Annotated[
        str | None, typer.Option(help="pooled, claimed, fulfilled, confirmed or withdrawn")
    ] = None,
    mine: Annotated[bool, typer.Option(help="only the wishes I hold (claimants)")] = False,
    as_json: AsJson = False,
    api_url: Url = DEFAULT_URL,
    api_key: Key = "",
) -> None:
    """The pool, newest first."""
    params: dict[str, Any] = {"mine": mine}
    params |= {k: v for k, v in {"community": community, "status": status}.items() if v}
    rows = call(api_url, api_key, "GET", "/wishes", params=params)
    columns = ["id", "title", "community", "kind", "status", "points"]
    table(rows, columns, "微心愿", as_json, labels=LABELS)


@wish.command("show")
def show(
    wish_id: WishId, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """One wish."""
    _show(call(api_url, api_key, "GET", f"/wishes/{wish_id}"), as_json)


def _action(name: str, body_field: str | None, help_text: str) -> None:
    def with_text(
        wish_id: WishId,
        text: Annotated[str, typer.Option("--text", help="the note, or the reason")],
        api_url: Url = DEFAULT_URL,
        api_key: Key = "",
    ) -> None:
        body = {body_field: text}
        _show(call(api_url, api_key, "POST", f"/wishes/{wish_id}/{name}", json=body))

    def bare(wish_id: WishId, api_url: Url = DEFAULT_URL, api_key: Key = "") -> None:
        _show(call(api_url, api_key, "POST", f"/wishes/{wish_id}/{name}"))

    command = with_text if body_field else bare
    command.__doc__ = help_text
    wish.command(name)(command)


_action("claim", None, "Claim a pooled wish (claimants).")
_action("progress", "note", "Record progress on your claim (keeps it from lapsing).")
_action("release", "reason", "Give the wish back to the pool.")
_action("fulfil", "note", "Say the wish is fulfilled; the wisher confirms.")
_action("confirm", None, "Confirm for the wisher: the claimant earns the points.")
_action("reject", "reason", "Say for the wisher that it is not fulfilled.")
_action("withdraw", "reason", "Take the wish off the pool.")


@wish.command("points")
def points(
    claimant: str, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """党员积分: a claimant's points ledger and total."""
    ledger = call(api_url, api_key, "GET", f"/claimants/{claimant}/points")
    table(
        ledger["credits"],
        ["wish_id", "title", "kind", "points", "credited_at"],
        f"{claimant}: {ledger['total']} 分",
        as_json,
        labels=LABELS,
    )


@wish.command("ranking")
def ranking(
    community: str, as_json: AsJson = False, api_url: Url = DEFAULT_URL, api_key: Key = ""
) -> None:
    """Claimants of a community ranked by points."""
    rows = call(api_url, api_key, "GET", f"/communities/{community}/wish-ranking")
    table(rows, ["rank", "claimant_id", "points", "wishes"], f"{community} 积分排名", as_json)
