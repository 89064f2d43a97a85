"""OpenTelemetry tracing for X-Ray, on only when ENABLE_OTEL is set.

App Runner's observability configuration runs an AWS Distro for OpenTelemetry collector beside the
instance; the OTLP gRPC exporter's default endpoint (localhost:4317, or OTEL_EXPORTER_OTLP_ENDPOINT)
reaches it. Trace ids use X-Ray's format (the time in the first 32 bits) and the X-Amzn-Trace-Id
header propagates.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from sqlalchemy.engine import Engine

from bookapp import runs

if TYPE_CHECKING:
    from starlette.applications import Starlette

_provider: TracerProvider | None = None


def setup_tracing(
    app: Starlette, engine: Engine, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install the provider once per process and instrument this app and engine."""
    global _provider  # noqa: PLW0603 - one provider per process, as OpenTelemetry requires
    if _provider is None:
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            exporter = OTLPSpanExporter()
        _provider = TracerProvider(
            id_generator=AwsXRayIdGenerator(),
            resource=Resource.create({"service.name": "bookapp"}),
        )
        _provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(_provider)
        set_global_textmap(AwsXRayPropagator())
        BotocoreInstrumentor().instrument(tracer_provider=_provider)  # type: ignore[no-untyped-call]
    # Health checks are left out by OTEL_PYTHON_STARLETTE_EXCLUDED_URLS (set in the image).
    StarletteInstrumentor.instrument_app(app, tracer_provider=_provider)
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=_provider)
    runs.observe(engine, _statement_spans(engine, _provider.get_tracer(__name__)))
    return _provider


def _statement_spans(engine: Engine, tracer: trace.Tracer) -> runs.StatementObserver:
    """A span per job_runs statement, named and described as the SQLAlchemy instrumentation's
    spans are: the job_runs statements run on the pool's driver connection (bookapp.runs), where
    SQLAlchemy's cursor events, and so the instrumentation, do not see them."""
    url = engine.url
    described: dict[str, str | int] = {"db.system": "postgresql"}
    for key, value in (
        ("db.name", url.database),
        ("db.user", url.username),
        ("net.peer.name", url.host),
        ("net.peer.port", url.port),
    ):
        if value:
            described[key] = value

    def span(statement: str) -> AbstractContextManager[object]:
        name = " ".join(filter(None, (statement.split(maxsplit=1)[0], url.database)))
        return tracer.start_as_current_span(
            name,
            kind=trace.SpanKind.CLIENT,
            attributes={**described, "db.operation": name, "db.statement": statement},
        )

    return span
