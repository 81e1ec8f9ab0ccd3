"""The command line's actions on a need, one command per row of the table of actions
(domain/actions.py) that has no hand-written command in workers/cli/ops.py: its options are
the row's command fields, its call is the row's HTTP route, its answer the need's stage and
the events recorded. A new row of the table is a new command here by itself.
"""

from __future__ import annotations

import enum
import inspect
import typing
from typing import Any

import typer

from domain.actions import ACTIONS, Action, field_type
from workers.cli.ops import DEFAULT_URL, call, ops

HAND_WRITTEN = {"accept", "complete", "classify", "assign", "repeat-decision", "unmerge"}
HAND_WRITTEN.add("complete-by-project")  # workers/cli/lists.py
SKIPPED = {"information"}  # free key=value answers: the integrator's door, not the CLI's


def _option_type(annotation: Any) -> Any | None:
    """The CLI type of a command field (None: not offered on the command line)."""
    annotation, _ = field_type(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return str
    if typing.get_origin(annotation) is list:
        return list[str]
    if annotation in (str, int, bool) or (
        isinstance(annotation, type) and issubclass(annotation, enum.Enum)
    ):
        return annotation
    return None


def _command(action: Action):
    fields = {
        name: info
        for name, info in action.command.model_fields.items()
        if name != "type" and _option_type(info.annotation) is not None
    }

    def run(need_id: str, api_url: str, api_key: str, **values: Any) -> None:
        body = {
            k: (v.value if isinstance(v, enum.Enum) else v)
            for k, v in values.items()
            if v is not None
        }
        answer = call(api_url, api_key, "POST", f"/needs/{need_id}/{action.name}", json=body)
        typer.echo(f"{need_id}: {answer['stage']} ({', '.join(answer['events'])})")

    params = [inspect.Parameter("need_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str)]
    for name, info in fields.items():
        required = info.is_required()
        kind = _option_type(info.annotation)
        flag = name.replace("_", "-")
        decls = [f"--{flag}/--no-{flag}"] if kind is bool else [f"--{flag}"]
        option = typer.Option(
            ... if required else None, *decls, help=info.description or name.replace("_", " ")
        )
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=kind if required else kind | None,
            )
        )
    params += [
        inspect.Parameter(
            "api_url",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str,
            default=typer.Option(
                DEFAULT_URL,
                "--api-url",
                envvar="DEMANDFLOW_API_URL",
                help="base URL of the HTTP API",
            ),
        ),
        inspect.Parameter(
            "api_key",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str,
            default=typer.Option("", "--api-key", envvar="DEMANDFLOW_API_KEY", help="your API key"),
        ),
    ]

    def command(**kwargs: Any) -> None:
        need_id, api_url, api_key = (
            kwargs.pop("need_id"),
            kwargs.pop("api_url"),
            kwargs.pop("api_key"),
        )
        run(need_id, api_url, api_key, **kwargs)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = action.summary
    command.__name__ = action.name.replace("-", "_")
    return command


for _action in ACTIONS:
    if _action.name not in HAND_WRITTEN | SKIPPED:
        ops.command(_action.name, help=_action.summary)(_command(_action))
