"""With ENABLE_OTEL, requests and database calls become spans in X-Ray's trace id format, and an
incoming X-Amzn-Trace-Id header continues its trace; without it nothing is instrumented."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bookapp import tracing
from bookapp.web import create_app

from .conftest import Deliver

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _reset_tracing() -> None:
    """Undo setup_tracing: OpenTelemetry keeps one provider (and its exporter) per process."""
    if tracing._provider is not None:
        tracing._provider.shutdown()
    tracing._provider = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    for instrumentor in (BotocoreInstrumentor(), SQLAlchemyInstrumentor()):  # type: ignore[no-untyped-call]
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


@pytest.fixture
def setup_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[InMemorySpanExporter]]:
    """Each setup_tracing call, with the in-memory exporter it was given."""
    calls: list[InMemorySpanExporter] = []
    original = tracing.setup_tracing

    def setup(app: Starlette, engine: Engine, _: SpanExporter | None = None) -> TracerProvider:
        memory = InMemorySpanExporter()
        calls.append(memory)
        return original(app, engine, memory)

    _reset_tracing()
    monkeypatch.setattr(tracing, "setup_tracing", setup)
    yield calls
    _reset_tracing()


def test_enabled_tracing_records_request_and_database_spans_in_xray_format(
    app_env: dict[str, str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    setup_calls: list[InMemorySpanExporter],
) -> None:
    monkeypatch.setenv("ENABLE_OTEL", "true")
    with TestClient(create_app()) as client:
        assert client.get("/readyz", headers={"X-Amzn-Trace-Id": TRACE_HEADER}).status_code == 200
        assert client.get("/books").status_code == 200
    [exporter] = setup_calls
    assert tracing._provider is not None
    tracing._provider.force_flush()
    spans = exporter.get_finished_spans()
    continued = [s for s in spans if format(s.context.trace_id, "032x").startswith("5759e988")]
    names = {s.name for s in continued}
    assert "GET /readyz" in names
    assert any(name.startswith("SELECT") for name in names), names
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in continued)
    # New traces get X-Ray ids: the first 32 bits are the current Unix time.
    fresh = [s for s in spans if s.name == "GET /books"]
    assert fresh
    started = int(format(fresh[0].context.trace_id, "032x")[:8], 16)
    assert abs(started - time.time()) < 300


@pytest.mark.usefixtures("app_env", "clean_runs")
def test_enabled_tracing_records_the_job_runs_statements_of_a_delivery(
    notification: Deliver,
    monkeypatch: pytest.MonkeyPatch,
    setup_calls: list[InMemorySpanExporter],
) -> None:
    monkeypatch.setenv("ENABLE_OTEL", "true")
    with TestClient(create_app()) as client:
        answer = client.post("/jobs", content=json.dumps(notification()))
        assert answer.status_code == 200, answer.text
    [exporter] = setup_calls
    assert tracing._provider is not None
    tracing._provider.force_flush()
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    # The claim and the outcome run on the pool's driver connection (bookapp.runs), out of
    # SQLAlchemy's sight: bookapp.tracing makes their spans, as the instrumentation would.
    assert any(name.startswith("INSERT") for name in names), names
    assert any(name.startswith("UPDATE") for name in names), names
    [claim] = [
        s
        for s in spans
        if (s.attributes or {}).get("db.statement", "").strip().startswith("INSERT INTO job_runs")
    ]
    requests = {s.context.trace_id for s in spans if s.name.startswith("POST /jobs")}
    assert claim.attributes is not None
    assert claim.attributes["db.system"] == "postgresql"
    assert claim.kind == trace.SpanKind.CLIENT
    # Within the request's trace, as the instrumentation's spans are.
    assert claim.context.trace_id in requests


def _middleware_names(app: Starlette) -> list[str]:
    return [middleware.cls.__name__ for middleware in app.user_middleware]  # type: ignore[attr-defined]


def test_tracing_is_off_unless_enabled(
    app_env: dict[str, str], setup_calls: list[InMemorySpanExporter]
) -> None:
    app = create_app()
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
    assert setup_calls == []
    assert not any("OpenTelemetry" in name for name in _middleware_names(app))
    assert tracing._provider is None
