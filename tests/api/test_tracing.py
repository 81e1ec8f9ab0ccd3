"""One trace from an HTTP submit through the need's workflow to the event append, on the real
dev server and PostgreSQL: the FastAPI instrumentation, Temporal's tracing interceptor on the
API's client and on the worker, and the store's append span, all into an in-memory exporter.
No span attribute carries the requester's name, phone or address, or an API key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import Services
from store.eventstore import EventStore
from telemetry import tracing
from tests.api.conftest import KEYS, POLICY, UI_ORIGIN, a_need, wait_for
from tests.fixtures.temporal import CODEC, CONVERTER
from workers.worker import build_worker

REQUESTER_DATA = ("王小明", "13812345678", "洞庭街")


@pytest.fixture
async def traced(
    dev_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=CONVERTER,
        interceptors=tracing.temporal_interceptors(provider),
    )
    queue = f"traced-{uuid.uuid4().hex[:10]}"
    app = create_app(
        Services(
            temporal=client,
            pool=api_pool,
            task_queue=queue,
            policy_file=POLICY,
            codec=CODEC,
            codec_origins=[UI_ORIGIN],
        )
    )
    tracing.instrument_api(app, provider)
    tracing.use(provider)
    try:
        async with (
            build_worker(client, queue, EventStore(api_pool), POLICY),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app),
                base_url="http://api",
                timeout=30,
                headers={"X-API-Key": KEYS["integrator"]},
            ) as http,
        ):
            yield http, exporter
    finally:
        tracing.use(None)
        provider.shutdown()


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_one_trace_runs_from_the_http_submit_to_the_append(traced) -> None:
    http, exporter = traced
    answer = await http.post("/needs?api_key=should-not-appear", json=a_need("路灯坏了，晚上很黑"))
    assert answer.status_code == 202, answer.text
    need_id = answer.json()["id"]
    await wait_for(http, need_id, lambda n: n["stage"] == "assignment")

    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    appends = [
        s
        for s in spans
        if s.name == "demandflow.append_events"
        and s.attributes.get("demandflow.need_id") == need_id
    ]
    first = next(s for s in appends if s.attributes["demandflow.expected_version"] == 0)
    assert "DemandSubmitted" in first.attributes["demandflow.event_types"]
    chain = _chain(first, by_id)
    assert chain == [
        "demandflow.append_events",
        "RunActivity:append_events",
        "StartActivity:append_events",
        "SignalWithStartWorkflow:DemandWorkflow",
        "POST /needs",
    ]

    for span in spans:
        for key, value in (span.attributes or {}).items():
            text = str(value)
            assert not any(p in text for p in REQUESTER_DATA), (span.name, key, text)
            assert "should-not-appear" not in text and KEYS["integrator"] not in text, (
                span.name,
                key,
            )
