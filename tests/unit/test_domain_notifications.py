"""What a channel hears: the notified events, the message, the URL and address rules."""

from __future__ import annotations

import json

import pytest

from domain.events import EventEnvelope
from domain.notifications import NOTIFIED, address_problem, message, url_problem
from domain.state import fold
from store import samples
from store.migrations.sql_0009_webhooks import OUTBOX_TYPES


def test_the_outbox_trigger_lists_exactly_the_notified_events() -> None:
    assert set(OUTBOX_TYPES) == set(NOTIFIED)


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://hooks.example.org/demandflow", True),
        ("http://10.0.0.5:8080/h", True),
        ("ftp://example.org/h", False),
        ("https://user:pw@example.org/h", False),
        ("https:///nohost", False),
        ("https://example.org/h#frag", False),
        ("javascript:x", False),
    ],
)
def test_webhook_urls(url: str, ok: bool) -> None:
    assert (url_problem(url) is None) == ok


@pytest.mark.parametrize(
    "address, refused",
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("::1", True),
        ("fe80::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(address: str, refused: bool) -> None:
    assert (address_problem(address) is not None) == refused


def test_a_message_names_the_need_and_status_and_carries_no_personal_data() -> None:
    stream = "need-app-00000000000000aa"
    envelopes: list[EventEnvelope] = samples.envelopes(stream, samples.happy_path())
    seen = []
    for i, envelope in enumerate(envelopes):
        if envelope.type not in NOTIFIED:
            continue
        state = fold([e.event() for e in envelopes[: i + 1]])
        body = message(
            need_id=stream,
            event=envelope,
            state=state,
            via_stream_id=stream,
            base_url="https://df.example",
        )
        assert body["event_id"] == envelope.event_id and body["need_id"] == stream
        assert body["status"] == state.stage.value
        assert body["links"]["need"] == f"https://df.example/needs/{stream}"
        text = json.dumps(body, ensure_ascii=False)
        first = envelopes[0].event()
        for secret in (first.requester.name, first.requester.phone, first.location.address):
            if secret:
                assert secret not in text
        seen.append(body["type"])
        if body["type"] == "evaluation_requested":
            assert body["evaluation"]["reviewer_ids"] == [first.requester.requester_id]
    assert seen[0] == "received" and "closed" in seen
