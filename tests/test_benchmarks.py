"""The benchmark runs (smoke mode): its numbers are reported, never asserted.

It needs the machine's PostgreSQL (scripts/test starts it): the run creates
a database of its own there and drops it at the end.
"""

import importlib.util
import json
import subprocess
import sys

import psycopg
import pytest
from support import REPO, postgres_url

pytestmark = pytest.mark.e2e

TRIO = ("template", "plain", "tuned")


@pytest.fixture
def bench(monkeypatch):
    """benchmarks/bench.py, imported as when it runs: its folder on the path."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench", REPO / "benchmarks" / "bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    for setup in TRIO:
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
    # What each worker may hold, asked of the running workers: the project's
    # one task per process (the config), plain Celery's default of four.
    prefetch = {setup: report[f"{setup}-c2"]["prefetch_count"] for setup in TRIO}
    assert prefetch == {"template": 2, "plain": 8, "tuned": 2}
    assert "tasks each worker may hold" in completed.stdout
    # Smoke mode counts no instructions (minutes under valgrind).
    assert "instructions" not in report
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


def callgrind_file(folder, pid: int, command: str, instructions: int) -> None:
    """A callgrind output file as valgrind 3.19 writes it, costs cut short."""
    (folder / str(pid)).write_text(
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\n"
        f"pid: {pid}\ncmd:  {command}\npart: 1\n\ndesc: I1 cache: \n"
        f"positions: line\nevents: Ir\nsummary: {instructions}\n\n\n"
        "fn=(1) main\n16 3\ntotals: 1\n"
    )


def test_callgrind_totals_split_a_worker_into_its_main_and_pool_processes(
    tmp_path, bench
):
    """The worker's own pid is the main process, its forks the pool; a
    program it ran (uname) is not the worker's."""
    worker = "/venv/bin/celery -A plain_app.celery worker --concurrency 2"
    callgrind_file(tmp_path, 100, worker, 7_000)
    callgrind_file(tmp_path, 101, worker, 2_000)
    callgrind_file(tmp_path, 102, worker, 3_000)
    callgrind_file(tmp_path, 103, "/usr/bin/uname -p", 500)

    totals = bench.callgrind_totals(tmp_path, main_pid=100)

    assert totals == {"main": 7_000, "pool": 5_000, "both": 12_000}
    (tmp_path / "101").unlink()
    (tmp_path / "102").unlink()
    with pytest.raises(SystemExit, match="counted no worker"):
        bench.callgrind_totals(tmp_path, main_pid=100)


def test_prefetch_multiplier_changes_the_projects_workers_only(bench):
    """--prefetch-multiplier is a what-if for the project's setting: plain
    Celery, the yardstick, keeps its default."""
    for setup in TRIO:
        default = bench.worker_arguments(setup, 4, None)
        assert "--prefetch-multiplier" not in default
        assert default[:2] == ["-A", f"{bench.WORKERS[setup]}.celery"]
    for setup in ("template", "tuned"):
        arguments = bench.worker_arguments(setup, 4, 4)
        assert arguments[-2:] == ["--prefetch-multiplier", "4"]
    assert "--prefetch-multiplier" not in bench.worker_arguments("plain", 4, 4)
