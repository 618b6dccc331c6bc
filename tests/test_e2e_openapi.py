"""The task API against its own OpenAPI document, fuzzed by schemathesis.

The default bake runs in production (gunicorn, a worker, Redis,
PostgreSQL); schemathesis reads GET /openapi.json, sends valid and invalid
requests to every operation, and checks each answer: never a 5xx, and
status, headers, content type and body as the document says.
"""

import subprocess

import pytest
from support import REPO

pytestmark = pytest.mark.e2e

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
)


def test_every_answer_matches_the_document(stack, tmp_path):
    """No 5xx, and every answer as documented, for generated requests."""
    completed = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "schemathesis"),
            "run",
            stack.url("/openapi.json"),
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "15",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-8000:] + stack.logs()
