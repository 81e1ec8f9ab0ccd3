"""The hash chain: each event's hash = sha256(previous hash of its stream || content digest).

The content digest is sha256 over jsonb's canonical text of everything the event says —
stream, version, event id, type, schema version, payload, actor, occurred_at (UTC,
microseconds) — so it does not depend on how a client wrote its JSON. The append path
computes it here (`content_digest`, over `jsonb_text`) and `df_append` chains it; `verify`
recomputes it from the stored columns with the SQL function `df_event_digest` (migration
0001). Both must agree byte for byte, for a payload PostgreSQL parsed from the text
`json.JSONEncoder(ensure_ascii=False, allow_nan=False)` wrote;
tests/integration/test_store_hashing.py holds the two against each other. The first event of
a stream chains from the empty byte string. What jsonb's text output does, as reproduced here:
- object keys sorted by UTF-8 length first, then bytewise; `{"k": v, "k2": v}`, `[a, b]`;
- strings escaped as PostgreSQL's escape_json does: `\\"`, `\\\\`, `\\b \\f \\n \\r \\t`,
  other characters below U+0020 as lowercase `\\u00xx`, everything else raw UTF-8;
  U+0000 cannot be stored in jsonb at all (ValueError here);
- numbers are `numeric`: no exponent, the scale of the text kept (`1e-05` -> `0.00001`,
  `1e+16` -> `10000000000000000`), and no negative zero (`-0.0` -> `0.0`); NaN and Infinity
  have no jsonb form (ValueError).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

GENESIS = b""

DIGEST_OF_ROW = (
    "df_event_digest(stream_id, version, event_id, type, schema_version, payload, actor_id, "
    "actor_role, actor_unit, occurred_at)"
)


def chain(previous: bytes, digest: bytes) -> bytes:
    """The link: identical to SQL `sha256(previous || digest)` in df_append."""
    return hashlib.sha256(previous + digest).digest()


# --- jsonb's text output -------------------------------------------------------------------

_NUL_MESSAGE = "holds the character U+0000, which jsonb cannot store"
_needs_escape = re.compile(r'[\x00-\x1f"\\]').search
_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update(
    {
        0x08: "\\b",
        0x0C: "\\f",
        0x0A: "\\n",
        0x0D: "\\r",
        0x09: "\\t",
        ord('"'): '\\"',
        ord("\\"): "\\\\",
    }
)


def _string(s: str) -> str:
    if _needs_escape(s) is None:
        return '"' + s + '"'
    if "\x00" in s:
        raise ValueError(f"a string {_NUL_MESSAGE}")
    return '"' + s.translate(_ESCAPES) + '"'


def _float(x: float) -> str:
    """A float as Python's json writes it (repr), then as jsonb's numeric prints that text."""
    if not math.isfinite(x):
        raise ValueError(f"a number is {float.__repr__(x)}, which jsonb cannot store")
    return _decimal(Decimal(float.__repr__(x)))


def _decimal(x: Decimal) -> str:
    """A Decimal as numeric prints the same text (json.loads(..., parse_float=Decimal))."""
    if not x.is_finite():
        raise ValueError("a number is NaN or Infinity, which jsonb cannot store")
    sign, digits, exponent = x.as_tuple()
    assert isinstance(exponent, int)  # finite: 'n', 'N' and 'F' mark NaN, sNaN and Infinity
    text = "".join(map(str, digits)).lstrip("0") or "0"
    if exponent >= 0:
        text = "0" if text == "0" else text + "0" * exponent
    else:
        text = text.rjust(1 - exponent, "0")
        text = text[:exponent] + "." + text[exponent:]
    return "-" + text if sign and text.strip("0.") else text


def _key_text(key: Any) -> str:
    """A non-string key as Python's json turns it into one (it raises on the rest)."""
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        if not math.isfinite(key):
            raise ValueError(f"a key is {float.__repr__(key)}, which JSON cannot write")
        return float.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _jsonb_order(keys: tuple[str, ...] | list[str]) -> list[str]:
    """jsonb's key order: shorter UTF-8 first, then bytewise (= code point order in str)."""
    return sorted(keys, key=lambda k: (len(k) if k.isascii() else len(k.encode()), k))


# Key order and escaped `"key": ` prefixes per key sequence: payloads of one event type share
# their keys, so a cache hit skips sorting and escaping. Bounded: cleared when it grows.
_PREFIXES: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
_PREFIXES_MAX = 2048


def _object(d: dict[Any, Any]) -> str:
    keys = tuple(d)
    prefixes = _PREFIXES.get(keys)
    if prefixes is None:
        if not all(isinstance(k, str) for k in keys):
            # Later duplicates win, as in jsonb (the JSON text keeps dict order).
            return _object({k if isinstance(k, str) else _key_text(k): v for k, v in d.items()})
        prefixes = tuple((k, _string(k) + ": ") for k in _jsonb_order(keys))
        if len(_PREFIXES) >= _PREFIXES_MAX:
            _PREFIXES.clear()
        _PREFIXES[keys] = prefixes
    parts = []
    for k, p in prefixes:
        v = d[k]
        if type(v) is str and _needs_escape(v) is None:  # the common case, inline
            parts.append(f'{p}"{v}"')
        else:
            parts.append(p + _value(v))
    return "{" + ", ".join(parts) + "}"


def _value(v: Any) -> str:
    t = type(v)
    if t is str:
        if _needs_escape(v) is None:
            return f'"{v}"'
        return _string(v)
    if t is dict:
        return _object(v) if v else "{}"
    if t is int:
        return int.__repr__(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is list or t is tuple:
        return "[" + ", ".join([_value(x) for x in v]) + "]" if v else "[]"
    if t is float:
        return _float(v)
    # Subclasses (str and int enums, OrderedDict, ...), written as json writes them.
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, dict):
        return _object(v) if v else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join([_value(x) for x in v]) + "]" if v else "[]"
    if t is Decimal:
        return _decimal(v)
    raise TypeError(f"a {t.__name__} has no JSON form")


def jsonb_text(value: Any) -> str:
    """PostgreSQL's `jsonb::text` of what it parses from Python's json text of `value`.

    Raises ValueError for U+0000 in a string or key and for NaN/Infinity (the message never
    repeats the value), TypeError for what Python's json cannot write. Beyond what json
    writes, a Decimal is spelled as numeric spells the same number with the same exponent
    (`Decimal("1.50")` -> `1.50`): that is how a payload parsed from JSON text with
    `json.loads(text, parse_float=Decimal)` gets the exact text jsonb would show.
    """
    return _value(value)


# --- the content digest --------------------------------------------------------------------


def utc_micros_text(moment: datetime) -> str:
    """`to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`; naive is UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest spelling
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def content_digest(
    stream_id: str,
    version: int,
    event_id: str,
    type: str,
    schema_version: int,
    payload: dict[str, Any],
    actor_id: str,
    actor_role: str,
    actor_unit: str | None,
    occurred_at: datetime,
    payload_text: str | None = None,
) -> bytes:
    """What `SELECT df_event_digest(...)` answers for these values, computed here.

    `payload` as the append path sends it (Python's json text of it, parsed by jsonb);
    `payload_text`, when given, is `jsonb_text(payload)` already computed. A naive
    `occurred_at` is UTC. ValueError (naming the field, never the value) for U+0000 in any
    text, a lone surrogate, and NaN/Infinity in the payload.
    """
    try:
        # The object df_event_digest builds, its keys written in jsonb's order (by length,
        # then bytewise); the tests hold this against the SQL function.
        text = (
            f'{{"type": {_value(type)}, "actor": {{"id": {_value(actor_id)}, '
            f'"role": {_value(actor_role)}, "unit": {_value(actor_unit)}}}, '
            f'"payload": {payload_text or _value(payload)}, "version": {_value(version)}, '
            f'"event_id": {_value(event_id)}, "stream_id": {_value(stream_id)}, '
            f'"occurred_at": "{utc_micros_text(occurred_at)}", '
            f'"schema_version": {_value(schema_version)}}}'
        ).encode()
    except ValueError:
        fields = {
            "stream_id": stream_id,
            "version": version,
            "event_id": event_id,
            "type": type,
            "schema_version": schema_version,
            "payload": payload,
            "actor_id": actor_id,
            "actor_role": actor_role,
            "actor_unit": actor_unit,
        }
        raise ValueError(_refusal(fields)) from None
    return hashlib.sha256(text).digest()


def _refusal(fields: dict[str, Any]) -> str:
    """Why content_digest refused: the first field at fault and its fault, never its value."""
    for name, value in fields.items():
        try:
            _value(value).encode()
        except UnicodeEncodeError:
            return f"{name}: a string holds a lone surrogate, which UTF-8 cannot encode"
        except ValueError as exc:
            return f"{name}: {exc}"
    return "a field holds what jsonb cannot store"  # not reached: one of them raised
