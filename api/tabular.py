"""Content negotiation for tables: JSON by default, CSV with `?format=csv` or `Accept: text/csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel

Format = Literal["json", "csv"]
CSV_RESPONSE = {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "the same rows as CSV (`?format=csv` or `Accept: text/csv`)",
}


def wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def csv_response(
    rows: Sequence[BaseModel], model: type[BaseModel], filename: str, *, excel: bool = False
) -> Response:
    """The rows as CSV. `excel`: with a UTF-8 byte order mark, which Excel on Chinese Windows
    needs to read UTF-8 (without it, it guesses GBK and shows mojibake)."""
    out = io.StringIO()
    if excel:
        out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=list(model.model_fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.model_dump(mode="json").items()})
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def _cell(value: object) -> object:
    if isinstance(value, list | dict):
        return ";".join(map(str, value)) if isinstance(value, list) else str(value)
    # Spreadsheet formula injection: text starting with = + - @ is prefixed with a quote.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
