"""The application's Prometheus metrics, `demandflow_*` (docs/observability.md).

Two kinds, read differently:
- **counters and histograms of this process** (events appended, needs submitted and closed,
  escalations, append latency, webhook deliveries): each worker or delivery process counts
  what it did; Prometheus sums the replicas (`sum(rate(...))`).
- **state read from the store at scrape time** (open needs by stage and category, overdue
  needs): served by the API's `/metrics` only; every API replica reports the same figure, so
  dashboards take `max`, never `sum`.

Labels are bounded vocabularies (event type, channel, category, stage, escalation cause,
delivery outcome); never a need id, a unit's person, a name, a phone or an address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from domain.events import EventEnvelope

__all__ = ["CONTENT_TYPE_LATEST", "exposition", "serve"]

EVENTS_APPENDED = Counter(
    "demandflow_events_appended", "Events stored in the event store, by type", ["type"]
)
APPEND_SECONDS = Histogram(
    "demandflow_event_append_seconds",
    "One batch's append: validation, fold and the database round trip",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
APPEND_CONFLICTS = Counter(
    "demandflow_event_append_conflicts",
    "Appends refused because the stream moved on (the writer decides again)",
)
NEEDS_SUBMITTED = Counter("demandflow_needs_submitted", "Needs received, by channel", ["channel"])
NEEDS_CLOSED = Counter(
    "demandflow_needs_closed", "Needs closed, by channel and category", ["channel", "category"]
)
ESCALATIONS = Counter("demandflow_escalations", "Escalations up the ladder, by cause", ["cause"])
WEBHOOK_DELIVERIES = Counter(
    "demandflow_webhook_deliveries",
    "Webhook POST attempts by outcome: delivered, retry (failed, tried again later), dead "
    "(failed for the last time: a dead letter)",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "demandflow_webhook_delivery_seconds",
    "One webhook attempt, lookup and POST",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPEN_NEEDS = Gauge(
    "demandflow_open_needs",
    "Needs not closed, by stage and category (from the store)",
    ["stage", "category"],
)
OVERDUE_NEEDS = Gauge(
    "demandflow_overdue_needs",
    "Open needs past a deadline, by category (from the store)",
    ["category"],
)

UNCLASSIFIED = "unclassified"  # the category label of a need not classified yet


def appended(
    events: Sequence[EventEnvelope], row: Mapping[str, Any] | None, seconds: float
) -> None:
    """Count a stored batch. `row`: the need's summary row after it (its channel and
    category label the submitted and closed counters)."""
    APPEND_SECONDS.observe(seconds)
    channel = str((row or {}).get("channel") or "unknown")
    for envelope in events:
        EVENTS_APPENDED.labels(envelope.type).inc()
        if envelope.type == "DemandSubmitted":
            NEEDS_SUBMITTED.labels(channel).inc()
        elif envelope.type == "DemandClosed":
            NEEDS_CLOSED.labels(channel, str((row or {}).get("category") or UNCLASSIFIED)).inc()
        elif envelope.type == "HandlingEscalated":
            ESCALATIONS.labels(str(envelope.payload.get("cause", "unknown"))).inc()


def store_state(open_needs: Iterable[tuple[str, str | None, int, int]]) -> None:
    """Set the store-read gauges from (stage, category, open count, overdue count) rows."""
    OPEN_NEEDS.clear()
    OVERDUE_NEEDS.clear()
    overdue: dict[str, int] = {}
    for stage, category, count, late in open_needs:
        label = category or UNCLASSIFIED
        OPEN_NEEDS.labels(stage, label).set(count)
        overdue[label] = overdue.get(label, 0) + late
    for label, late in overdue.items():
        OVERDUE_NEEDS.labels(label).set(late)


def exposition() -> bytes:
    """This process's metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)


def serve(host: str, port: int) -> None:
    """Serve this process's metrics on http://host:port/metrics (a thread of its own)."""
    start_http_server(port, addr=host)
