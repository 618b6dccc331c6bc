"""With no SENTRY_DSN and no OTLP endpoint: no exporter, no instrumentation.

(redis-py imports OpenTelemetry's API when it is installed, for metrics of
its own that stay off unless asked for.)"""

import os
import subprocess
import sys

from conftest import PROJECT_DIR

CHECK = """
import sys
from app import create_app
create_app("testing").test_client().get("/")
from opentelemetry import trace
print(type(trace.get_tracer_provider()).__name__)
LOADED = ("sentry_sdk", "opentelemetry.instrumentation", "opentelemetry.exporter")
print(sorted(m for m in sys.modules if m.startswith(LOADED)))
"""


def test_no_sdk_is_loaded_when_neither_is_configured():
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "SENTRY_"))
    }
    completed = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=PROJECT_DIR,
        env={**env, "PYTHONPATH": str(PROJECT_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.split("\n")[:2] == ["ProxyTracerProvider", "[]"]
