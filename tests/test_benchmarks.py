"""The benchmark runs (smoke mode): its numbers are reported, never asserted."""

import json
import subprocess
import sys

import pytest
from support import REPO

pytestmark = pytest.mark.e2e


def test_benchmark_smoke_run_prints_its_table_and_json():
    """One tiny round of each measurement completes and reports ratios."""
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    for setup in ("template", "plain"):
        for concurrency in (1, 2, 4):
            assert report[f"{setup}-c{concurrency}"]["throughput"] > 0
    assert report["template-c2"]["walk_reported_ms"] > 0
    for server in ("template", "bare"):
        web = report[f"web-{server}"]
        for load in ("post", "get_10", "get_100"):
            assert web[load]["requests"] > 0
            assert web[load]["failed"] == 0
    assert report["ratios"]["c2"]["throughput"] > 0
    assert report["ratios"]["web"]["get_100"]["rps"] > 0
    assert report["bake_s"] > 0
    assert "suite" not in report  # the suite is timed in full runs only
    assert "throughput -c 2 (tasks/s)" in completed.stdout
