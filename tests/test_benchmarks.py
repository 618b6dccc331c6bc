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
    for key in ("throughput_ratio", "p50_ratio", "p99_ratio", "progress_cost_ms"):
        assert isinstance(report[key], float)
    assert "throughput (tasks/s)" in completed.stdout
