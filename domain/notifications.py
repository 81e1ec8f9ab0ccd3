"""What a requester's channel hears about a need: the events worth a message, by name, and the
message each one becomes. Pure: the delivery process (workers/delivery.py) reads the typed
events of the need, folds them with the domain's own `fold`, and asks this module for the
body; nothing here knows HTTP.

A message carries no personal data: the need's id, the event's id (the idempotency key), the
notification's name, the need's status after the event, the time, links, and for an
evaluation invitation the requester ids this channel speaks for (ids the channel chose when it
submitted), so it can invite its residents and relay their ratings.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from domain import events as ev
from domain.state import NeedState

# event type -> notification name. Migration 0009's trigger lists the same event types (a
# migration's text is frozen; tests/unit/test_domain_notifications.py proves they agree).
NOTIFIED: dict[str, str] = {
    "DemandSubmitted": "received",
    "DemandMerged": "merged",
    "InformationRequested": "information_needed",
    "DemandAssigned": "assigned",
    "DemandAccepted": "accepted",
    "ExtensionApproved": "extended",
    "HandlingCompleted": "completed",
    "EvaluationRequested": "evaluation_requested",
    "DemandClosed": "closed",
    "DemandReopened": "reopened",
}
NAMES = tuple(sorted(set(NOTIFIED.values())))


def message(
    *, need_id: str, event: ev.EventEnvelope, state: NeedState, via_stream_id: str, base_url: str
) -> dict[str, Any]:
    """The body for one channel: `state` is the need folded up to and including `event`;
    `via_stream_id` is the report through which this channel hears (its own need, or a report
    of it merged here)."""
    name = NOTIFIED[event.type]
    body: dict[str, Any] = {
        "event_id": str(event.event_id),
        "need_id": need_id,
        "type": name,
        "event_type": event.type,
        "version": event.version,
        "status": state.stage.value if state.stage else None,
        "occurred_at": _iso(event.occurred_at),
        "links": {
            "need": f"{base_url}/needs/{need_id}",
            "open311": f"{base_url}/open311/v2/requests/{need_id}.json",
        },
    }
    if via_stream_id != need_id:
        body["report_id"] = via_stream_id  # the channel's own report, merged into this need
    payload = event.event()
    if isinstance(payload, ev.EvaluationRequested):
        body["evaluation"] = {
            "due_at": _iso(payload.due_at),
            "reviewer_ids": _requesters_via(state, need_id, via_stream_id, payload),
            "submit": f"{base_url}/needs/{need_id}/evaluation",
        }
    if isinstance(payload, ev.InformationRequested):
        body["information"] = {
            "missing_fields": list(payload.missing_fields),
            "submit": f"{base_url}/needs/{need_id}/information",
        }
    if isinstance(payload, ev.DemandMerged):
        body["merged_into"] = payload.into_stream_id
    return body


def _requesters_via(
    state: NeedState, need_id: str, via: str, asked: ev.EvaluationRequested
) -> list[str]:
    """The requester reviewers this channel speaks for: its own report's requester, or the
    requester of its report merged here."""
    own = state.requesters[0].requester_id if via == need_id and state.requesters else None
    mine = own if via == need_id else state.linked_requesters.get(via)
    return [
        r.reviewer_id for r in asked.reviewers if r.role == "requester" and r.reviewer_id == mine
    ]


def _iso(value: datetime) -> str:
    return value.isoformat()


# --- where a message may go ----------------------------------------------------------------
def url_problem(url: str) -> str | None:
    """What is wrong with a webhook URL, or None: http(s) only, a host, no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "url: only http and https"
    if not parts.hostname:
        return "url: no host"
    if parts.username is not None or parts.password is not None:
        return "url: no credentials in the URL (the signature authenticates the sender)"
    if parts.fragment:
        return "url: no fragment"
    return None


def address_problem(address: str) -> str | None:
    """Why a resolved address is refused as a target in production (private, loopback,
    link-local, multicast, reserved, unspecified), or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for name in (
        "is_loopback",
        "is_private",
        "is_link_local",
        "is_multicast",
        "is_reserved",
        "is_unspecified",
    ):
        if getattr(ip, name):
            return f"url: resolves to a {name.removeprefix('is_').replace('_', '-')} address"
    return None
