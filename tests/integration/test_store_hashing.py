"""The digest and the chain are the same in SQL and Python, on every server version."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from domain.model import Role
from store import columns, samples, schema
from store.hashing import GENESIS, chain, content_digest, jsonb_text

GOLDEN_SQL = """SELECT df_event_digest('need-app-0123456789abcdef', 3, 'e-3', 'ProgressNoted', 1,
    '{"note": "ü \\"q\\"", "n": [1.50, 1e+16, -0.0, 0.00001]}'::jsonb, 'staff-1', 'staff',
    NULL, '2026-03-31T23:30:00.123456+08:00')"""
# Computed once on PostgreSQL 18; a different value on another server or release would mean
# stored chains no longer verify there.
GOLDEN = "b4b56dd0269a8a4c878277b58d14f516eeae5ffd71eb6de59190cc21537369fe"


async def test_the_digest_is_the_same_on_every_server(pool: asyncpg.Pool):
    async with pool.acquire() as conn:
        await conn.execute("SET TimeZone = 'America/Lima'")  # the session zone must not matter
        digest = await conn.fetchval(GOLDEN_SQL)
        await conn.execute("RESET TimeZone")
    assert digest.hex() == GOLDEN


async def test_the_sql_chain_step_is_the_python_one(pool: asyncpg.Pool):
    previous, digest = b"\x01" * 32, b"\x02" * 32
    assert bytes(
        await pool.fetchval("SELECT sha256($1::bytea || $2::bytea)", previous, digest)
    ) == chain(previous, digest)
    assert bytes(await pool.fetchval("SELECT sha256(''::bytea || $1::bytea)", digest)) == chain(
        GENESIS, digest
    )


async def test_schema_metadata_matches_the_migrated_database(owner_url: str):
    engine = create_async_engine(owner_url)
    async with engine.connect() as conn:
        found = await conn.run_sync(
            lambda c: {
                t: [(col["name"], col["nullable"]) for col in inspect(c).get_columns(t)]
                for t in schema.metadata.tables
            }
        )
    await engine.dispose()
    # in order: the append functions take need_summary's row as a composite, and the client
    # builds it in store.schema's column order
    expected = {
        name: [(c.name, c.nullable) for c in table.columns]
        for name, table in schema.metadata.tables.items()
    }
    assert found == expected
    assert tuple(name for name, _ in found["need_summary"]) == columns.SUMMARY_COLUMNS


# --- the digest computed in Python equals df_event_digest ---------------------------------

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
DIGEST_SQL = "SELECT df_event_digest($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
GOLDEN_PAYLOAD = '{"note": "ü \\"q\\"", "n": [1.50, 1e+16, -0.0, 0.00001]}'


def test_the_python_digest_of_the_golden_event_is_golden():
    # 1.50 has no float spelling: parse the golden text with Decimal, which keeps the scale.
    payload = json.loads(GOLDEN_PAYLOAD, parse_float=Decimal)
    moment = datetime(2026, 3, 31, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    digest = content_digest(
        "need-app-0123456789abcdef",
        3,
        "e-3",
        "ProgressNoted",
        1,
        payload,
        "staff-1",
        "staff",
        None,
        moment,
    )
    assert digest.hex() == GOLDEN


async def test_jsonb_text_spells_numbers_and_escapes_as_postgresql(pool: asyncpg.Pool):
    texts = [
        GOLDEN_PAYLOAD,
        "[0e5, 0e-3, -0, -0.000, 100e-2, 1E2, 12.3400, -1.5e-7, 5e-324, 1.7976931348623157e+308]",
        '{"a": "\\u0001\\u001f\\u001F \\u007f\\u2028 \\b\\f\\n\\r\\t \\" \\\\ \\/ \\ud83d\\ude00"}',
        '{"b": 1, "aa": 2, "a": 3, "\\u00e9": 4, "z": 5, "ab": 6, "a": 7}',  # a repeated key
        '[{}, [], null, true, false, {"": ""}]',
    ]
    for text in texts:
        expected = await pool.fetchval("SELECT $1::jsonb::text", text)
        # The repeated key: jsonb keeps the last, and so does a dict built from the pairs.
        assert jsonb_text(json.loads(text, parse_float=Decimal)) == expected, text


async def test_jsonb_text_takes_what_python_json_takes(pool: asyncpg.Pool):
    # Non-string keys become strings as json writes them (a repeated one: jsonb keeps the
    # last), enums write their value, tuples are arrays.
    payload = {
        2: "a",
        "2": "b",
        False: 1,
        None: 2,
        1.5: 3,
        "role": Role.STAFF,
        "n": IntEnum("N", "ONE")(1),
        "t": (1, "x", ()),
    }
    assert jsonb_text(payload) == await pool.fetchval("SELECT $1::jsonb::text", _dumps(payload))


async def test_the_python_digest_of_sample_events_is_the_sql_one(pool: asyncpg.Pool):
    stream = samples.new_stream_id()
    envelopes = samples.envelopes(stream, samples.rough_path() + samples.merged_path())
    for e in envelopes:
        args = (e.stream_id, e.version, e.event_id, e.type, e.schema_version)
        actor = (e.actor.id, e.actor.role.value, e.actor.unit)
        expected = await pool.fetchval(DIGEST_SQL, *args, _dumps(e.payload), *actor, e.occurred_at)
        assert content_digest(*args, e.payload, *actor, e.occurred_at) == bytes(expected)


_SPECIAL_CHARS = st.sampled_from(
    list('"\\/\x01\x08\t\n\x0b\x0c\r\x1f\x7f\x80\u00e9\u2028\u2029\ufeff\uffff\U0001f600\U0010ffff')
)
_TEXT = st.text(
    _SPECIAL_CHARS | st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12
)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [
        0.0,
        -0.0,
        5e-324,
        -2.2250738585072014e-308,
        1.7976931348623157e308,
        1e16,
        1e15,
        1e-05,
        0.0001,
        1.5,
        0.1,
        123456789012345680.0,
    ]
)
_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(-(10**40), 10**40) | _FLOATS | _TEXT
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_PAYLOADS = st.dictionaries(_TEXT, _VALUES, max_size=6)
_INT4 = st.integers(-(2**31), 2**31 - 1)
_ZONES = st.none() | st.integers(-15 * 3600, 15 * 3600).map(
    lambda s: timezone(timedelta(seconds=s))
)
_MOMENTS = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_ZONES
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=_PAYLOADS,
    stream_id=_TEXT,
    version=_INT4,
    event_id=_TEXT,
    type_=_TEXT,
    schema_version=_INT4,
    actor_id=_TEXT,
    actor_role=_TEXT,
    actor_unit=st.none() | _TEXT,
    occurred_at=_MOMENTS,
)
async def test_the_python_digest_equals_the_sql_one_for_any_event(
    pool: asyncpg.Pool,
    payload,
    stream_id,
    version,
    event_id,
    type_,
    schema_version,
    actor_id,
    actor_role,
    actor_unit,
    occurred_at,
):
    payload_json = _dumps(payload)  # what the append path sends
    # The same text first, for the readable failure; then the digest over everything.
    assert jsonb_text(payload) == await pool.fetchval("SELECT $1::jsonb::text", payload_json)
    # asyncpg would read a naive time as local time; content_digest takes it as UTC.
    sent_at = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
    expected = await pool.fetchval(
        DIGEST_SQL,
        stream_id,
        version,
        event_id,
        type_,
        schema_version,
        payload_json,
        actor_id,
        actor_role,
        actor_unit,
        sent_at,
    )
    assert content_digest(
        stream_id,
        version,
        event_id,
        type_,
        schema_version,
        payload,
        actor_id,
        actor_role,
        actor_unit,
        occurred_at,
    ) == bytes(expected)


async def test_postgresql_refuses_nul_in_jsonb(pool: asyncpg.Pool):
    with pytest.raises(asyncpg.UntranslatableCharacterError):
        await pool.fetchval("SELECT $1::jsonb", _dumps({"a": "x\x00y"}))


_EVENT = ("need-app-1", 1, "need-app-1:1", "ProgressNoted", 1)
_ACTOR = ("staff-1", "staff", None, datetime(2026, 3, 31, tzinfo=UTC))


@pytest.mark.parametrize(
    "payload",
    [
        {"note": "secret\x00value"},
        {"secret\x00key": 1},
        {"n": [float("nan")]},
        {"n": float("inf")},
        {"n": {"m": -float("inf")}},
        {"n": Decimal("NaN")},
    ],
)
def test_what_jsonb_cannot_hold_is_refused_without_the_value(payload):
    with pytest.raises(ValueError, match=r"^payload: ") as caught:
        content_digest(*_EVENT, payload, *_ACTOR)
    assert "secret" not in str(caught.value)
    with pytest.raises(ValueError):
        jsonb_text(payload)


def test_nul_in_an_envelope_field_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"^event_id: .*U\+0000") as caught:
        content_digest("need-app-1", 1, "secret\x00", "ProgressNoted", 1, {}, *_ACTOR)
    assert "secret" not in str(caught.value)


def test_a_lone_surrogate_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"^actor_role: .*surrogate"):
        content_digest(*_EVENT, {}, "staff-1", "secret\ud800", None, _ACTOR[3])
