"""Split a SQL script into statements: drivers that prepare statements take one at a time."""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$[A-Za-z_]*\$")


def statements(script: str) -> list[str]:
    """Statements end with ';' at the end of a line, outside dollar-quoted bodies."""
    out: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for line in script.splitlines():
        current.append(line)
        for token in _DOLLAR.findall(line):
            if quote is None:
                quote = token
            elif token == quote:
                quote = None
        if quote is None and line.rstrip().endswith(";"):
            stmt = "\n".join(current).strip()
            if stmt.strip(";").strip():
                out.append(stmt)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        out.append(tail)
    return out
