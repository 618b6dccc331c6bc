"""Traces: the request, the task it sends and the task's run, as one trace.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set: then
OpenTelemetry's instrumentations of Flask, Celery, SQLAlchemy and Redis
make spans, and an OTLP exporter sends them (HTTP and protobuf unless
OTEL_EXPORTER_OTLP_PROTOCOL says otherwise). The standard OTEL_* variables
(OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, ...)
apply. Celery carries the trace in each task's message headers.

The SDK, whose exporter runs a thread, starts in the process that makes
the spans, after any fork: gunicorn's `post_fork` (gunicorn.conf.py), the
worker's pool processes (`worker_process_init`), or the worker itself for
pools that do not fork.
https://opentelemetry-python.readthedocs.io/en/latest/examples/fork-process-model/
"""

import os
from typing import Any

from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import celeryd_after_setup, worker_process_init
from flask import Flask

from app.models import db

# Services are named after the project: -web, -worker (OTEL_SERVICE_NAME wins).
SERVICE = {{ cookiecutter.project_slug | python_string }}


def tracing_enabled() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracing_init_app(app: Flask) -> None:
    """Make spans of the app's requests, its SQL, Redis and Celery calls."""
    if not tracing_enabled():
        return
    with app.app_context():
        engine = db.engine
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FlaskInstrumentor().instrument_app(app)
    # Its declared range stops before SQLAlchemy 2.1, which it instruments
    # well (tests/test_e2e_observability.py sees the SQL spans).
    SQLAlchemyInstrumentor().instrument(engine=engine, skip_dep_check=True)
    for instrumentor in (CeleryInstrumentor(), RedisInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()


def start_tracing(service: str) -> None:
    """Start the SDK in this process: spans go to the OTLP endpoint."""
    if not tracing_enabled():
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


@worker_process_init.connect
def start_tracing_in_a_pool_process(**_: Any) -> None:
    start_tracing(f"{SERVICE}-worker")


@celeryd_after_setup.connect
def start_tracing_in_a_worker_that_does_not_fork(instance: Any, **_: Any) -> None:
    if not issubclass(instance.pool_cls, PreforkPool):
        start_tracing(f"{SERVICE}-worker")
