"""Pure checks made before the round trip: stream ids, batch shape, SQL splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import events as ev
from domain.model import Channel
from store import samples
from store.errors import InvalidEvent
from store.hashing import GENESIS, chain
from store.migrations.sqltext import statements
from store.validation import STREAM_ID_PATTERN, check_batch


@given(
    channel=st.sampled_from(list(Channel)),
    suffix=st.text("0123456789abcdef", min_size=16, max_size=16),
)
def test_every_channel_makes_a_valid_stream_id(channel: Channel, suffix: str):
    assert STREAM_ID_PATTERN.match(f"need-{channel.value}-{suffix}")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "need-app-",
        "need-app-0123456789abcdeg",
        "xneed-app-0123456789abcdef",
        "need-app-0123456789abcdef\n",
    ],
)
def test_other_ids_are_not_ours(bad: str):
    assert not STREAM_ID_PATTERN.match(bad)


def test_a_batch_must_follow_on_without_gaps_or_repeats():
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path()[:3], first_version=5)
    check_batch(sid, 4, batch)
    with pytest.raises(InvalidEvent, match=r"events\[0\].version: must be 4"):
        check_batch(sid, 3, batch)
    repeated = [batch[0], batch[1].model_copy(update={"event_id": batch[0].event_id})]
    with pytest.raises(InvalidEvent, match="repeats"):
        check_batch(sid, 4, repeated)
    with pytest.raises(InvalidEvent, match="at least one"):
        check_batch(sid, 4, [])
    other = samples.envelopes(samples.new_stream_id(), [ev.ProgressNoted(note="x")])
    with pytest.raises(InvalidEvent, match=r"events\[0\].stream_id"):
        check_batch(sid, 0, other)


def test_payload_type_belongs_in_the_envelope():
    sid = samples.new_stream_id()
    [env] = samples.envelopes(sid, [ev.ProgressNoted(note="x")])
    with pytest.raises(InvalidEvent, match=r"events\[0\].payload.type"):
        check_batch(sid, 0, [env.model_copy(update={"payload": {"note": "x", "type": "X"}})])


def test_chain_links_depend_on_order():
    a, b = b"a" * 32, b"b" * 32
    assert chain(chain(GENESIS, a), b) != chain(chain(GENESIS, b), a)
    assert len(chain(GENESIS, a)) == 32


def test_sql_scripts_split_outside_dollar_quotes():
    script = "CREATE TABLE t (a int);\nCREATE FUNCTION f() AS $fn$\nBEGIN\n  x;\nEND\n$fn$;\n"
    assert statements(script) == [
        "CREATE TABLE t (a int);",
        "CREATE FUNCTION f() AS $fn$\nBEGIN\n  x;\nEND\n$fn$;",
    ]
