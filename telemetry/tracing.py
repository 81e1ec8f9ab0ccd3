"""OpenTelemetry traces (docs/observability.md): one trace from an HTTP call through the
need's workflow to the event append.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set; then spans go by OTLP over HTTP (the
exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables itself; `OTEL_SERVICE_NAME`
overrides the process's name). The pieces:
- the Temporal client and worker: `temporalio.contrib.opentelemetry.TracingInterceptor`
  (StartWorkflow/SignalWithStart → RunWorkflow → StartActivity → RunActivity; the context
  travels in Temporal headers, so it crosses processes);
- the HTTP service: FastAPI's instrumentation, with URLs cut to their path (query strings
  carry Open311 keys and filters) and the client's address dropped;
- the append: `append_span` around each batch written to the event store.

Span attributes carry ids, types and counts only: never a name, a phone, an address, a key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, TracerProvider

_provider: TracerProvider | None = None  # None: the global provider (a no-op unless set)

# Attributes the HTTP instrumentation sets that could carry a key, a filter value or a
# person's network address; rewritten in `_scrub`.
_URL_ATTRIBUTES = ("http.url", "url.full")
_QUERY_ATTRIBUTES = ("url.query",)
_PEER_ATTRIBUTES = (
    "net.peer.ip",
    "net.peer.port",
    "client.address",
    "client.port",
    "http.client_ip",
    "network.peer.address",
    "network.peer.port",
)


def enabled() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(service: str) -> bool:
    """Install the OTLP exporter as this process's provider when tracing is on; True if on."""
    if not enabled():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = SdkProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def use(provider: TracerProvider | None) -> None:
    """Send this process's own spans (the append) to `provider`; None: the global one.
    For tests, which cannot replace the global provider once set."""
    global _provider
    _provider = provider


def _tracer() -> trace.Tracer:
    return trace.get_tracer("demandflow", tracer_provider=_provider)


def temporal_interceptors(provider: TracerProvider | None = None) -> list[Any]:
    """The client and worker interceptor carrying traces through Temporal."""
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(trace.get_tracer("temporalio", tracer_provider=provider))]


def instrument_api(app: Any, provider: TracerProvider | None = None) -> None:
    """Trace every HTTP request of `app` but the probes, the metrics and static files."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=_scrub,
        excluded_urls="/health,/ready,/metrics,/static/.*",
        exclude_spans=["receive", "send"],
    )


def _scrub(span: Span, scope: dict[str, Any]) -> None:
    if not span.is_recording():
        return
    path = scope.get("path", "")
    for name in _URL_ATTRIBUTES:
        span.set_attribute(name, path)
    for name in _QUERY_ATTRIBUTES:
        span.set_attribute(name, "")
    span.set_attribute("http.target", path)
    for name in _PEER_ATTRIBUTES:
        span.set_attribute(name, "")


@contextmanager
def append_span(stream_id: str, expected_version: int, types: Sequence[str]) -> Iterator[Span]:
    """A span around one append; the need id (no personal data by design: docs/security.md),
    where in the stream, the event types."""
    with _tracer().start_as_current_span(
        "demandflow.append_events",
        attributes={
            "demandflow.need_id": stream_id,
            "demandflow.expected_version": expected_version,
            "demandflow.event_types": list(types),
        },
    ) as span:
        yield span
