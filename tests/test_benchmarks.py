"""The benchmark runs (smoke mode): its numbers are reported, never asserted.

It needs the machine's PostgreSQL (scripts/test starts it): the run creates
a database of its own there and drops it at the end.
"""

import json
import subprocess
import sys

import psycopg
import pytest
from support import REPO, postgres_url

pytestmark = pytest.mark.e2e


def test_benchmark_smoke_run_prints_its_table_and_json():
    """One tiny round of each measurement completes and reports ratios.

    Every web app committed a row for every POST it answered, and the
    run's database is gone after it.
    """
    completed = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    # Smoke mode measures workers of two processes only (full runs 1, 2, 4).
    for setup in ("template", "plain", "tuned"):
        assert report[f"{setup}-c2"]["throughput"] > 0
    assert "template-c1" not in report
    assert report["template-c2"]["long_task_reported_ms"] > 0
    for server in ("template", "traced", "bare", "duties"):
        web = report[f"web-{server}"]
        for load in ("post", "get_10", "get_100"):
            assert web[load]["requests"] > 0
            assert web[load]["failed"] == 0
        # A request in flight when wrk stopped may have written one more.
        assert web["post"]["rows"] >= web["post"]["requests"]
    assert report["ratios"]["c2"]["throughput"] > 0
    assert report["ratios"]["c2"]["settings_throughput"] > 0
    assert report["ratios"]["c2"]["code_throughput"] > 0
    assert len(report["ratios_by_pair"]["c2"]) == report["pairs"]
    # The pairs were shared among two starts of the workers, one pair each.
    assert len(report["ratios_by_start"]["c2"]) == report["starts"] == 2
    assert report["ratios"]["web"]["get_100"]["rps"] > 0
    assert report["ratios"]["web"]["post"]["rps"] > 0
    assert report["ratios"]["web_duties"]["post"]["rps"] > 0
    assert report["ratios"]["duties"]["post"]["rps"] > 0
    assert report["ratios"]["traced"]["post"]["rps"] > 0
    assert len(report["ratios_by_round"]["web"]["post"]["rps"]) == report["rounds"]
    database = report["database"]["name"]
    assert database.startswith("bench_")
    with psycopg.connect(postgres_url("postgres")) as connection:
        left = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()[0]
    assert left == 0, f"the benchmark left its database {database} behind"
    assert report["bake_s"] > 0
    assert "suite" not in report  # the suite is timed in full runs only
    assert "throughput -c 2 (tasks/s)" in completed.stdout
    assert "tuned / plain" in completed.stdout
    assert "POST /tasks req/s" in completed.stdout
