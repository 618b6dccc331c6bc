"""What the template adds on top of plain Celery, measured in one run.

    .venv/bin/python benchmarks/bench.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench.py --smoke    # does it work? (CI)

It bakes the default project into a temporary folder, starts a private
redis-server on a free port, and measures, in alternating rounds (A B B A ...)
so that machine drift cancels out:

- throughput: no-op tasks through the baked app's Celery setup (its Task
  class, an app context per task, its config) against a plain `Celery()`
  app with default settings, same broker and worker flags;
- round-trip latency (send -> result) p50/p95/p99 of one task, same pair;
- the cost of progress reports: the demo walk of STEPS steps against the
  same loop without reports.

It prints a table of medians and ratios, then one JSON line. Ratios matter
more than times: the machine is noisy.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support import (  # noqa: E402 (after the path is set)
    REPO,
    ManagedProcess,
    clean_env,
    private_redis,
    shared_project_venv,
    wait_until,
)

SETUPS = ("template_app", "plain_app")
WORKER_FLAGS = ["--pool", "prefork", "--concurrency", "2", "-l", "WARNING"]


def main() -> None:
    options = parse_arguments()
    venv = shared_project_venv(REPO / ".cache")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        project = Path(cookiecutter(str(REPO), no_input=True, output_dir=folder))
        redis = private_redis(folder)
        try:
            runs = measure_rounds(options, venv, project, redis.url, folder)
        finally:
            redis.stop()
    summary = summarise(runs)
    print_table(summary, options)
    print(json.dumps({"benchmark": "flask-celery", **vars(options), **summary}))


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, to check it runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--round-trips", type=int, default=300)
    parser.add_argument("--steps", type=int, default=1000)
    options = parser.parse_args()
    if options.smoke:
        options.rounds, options.tasks, options.round_trips = 1, 50, 20
        options.steps = 50
    return options


def measure_rounds(options, venv, project: Path, redis_url: str, folder: Path):
    """Each setup's measurements, one per round, run in A B B A order."""
    runs: dict[str, list[dict]] = {setup: [] for setup in SETUPS}
    for number in range(options.rounds):
        order = SETUPS if number % 2 == 0 else SETUPS[::-1]
        for setup in order:
            runs[setup].append(
                measure(setup, options, venv, project, redis_url, folder)
            )
    return runs


def measure(setup: str, options, venv, project, redis_url: str, folder: Path):
    """Start `setup`'s worker, run the client, stop the worker."""
    env = clean_env(
        venv,
        project,
        PYTHONPATH=f"{project}{os.pathsep}{HERE}",
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        CELERY_BROKER_URL=redis_url,
        BENCH_REDIS_URL=redis_url,
    )
    command = [str(venv.bin("celery")), "-A", f"{setup}.celery", "worker"]
    worker = ManagedProcess(
        [*command, *WORKER_FLAGS], cwd=project, env=env, log=folder / f"{setup}.log"
    ).start()
    try:
        ping = [str(venv.bin("celery")), "-A", f"{setup}.celery", "inspect", "ping"]
        wait_until(
            lambda: run(ping, project, env, check=False).returncode == 0,
            timeout=60,
            message=f"{setup} worker did not answer: {worker.log_text()}",
        )
        steps = options.steps if setup == "template_app" else 0
        client = [str(venv.python), str(HERE / "measure.py"), setup]
        client += [str(options.tasks), str(options.round_trips), str(steps)]
        return json.loads(run(client, project, env).stdout)
    finally:
        worker.stop()
        run([str(venv.python), "-c", FLUSH], project, env)


FLUSH = (
    "import os, redis; redis.Redis.from_url(os.environ['BENCH_REDIS_URL']).flushdb()"
)


def run(command, cwd, env, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=check
    )


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Medians per setup, and the template's ratios against plain Celery."""
    median = {
        setup: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for setup, results in runs.items()
    }
    template, plain = median["template_app"], median["plain_app"]
    steps_ms = template["walk_reported_ms"] - template["walk_quiet_ms"]
    return {
        "template": template,
        "plain": plain,
        "throughput_ratio": template["throughput"] / plain["throughput"],
        "p50_ratio": template["p50"] / plain["p50"],
        "p99_ratio": template["p99"] / plain["p99"],
        "progress_cost_ms": steps_ms,
    }


def print_table(summary: dict, options) -> None:
    template, plain = summary["template"], summary["plain"]
    rows = [
        ("throughput (tasks/s)", "throughput"),
        ("round trip p50 (ms)", "p50"),
        ("round trip p95 (ms)", "p95"),
        ("round trip p99 (ms)", "p99"),
    ]
    print(
        f"{options.rounds} rounds, {options.tasks} tasks, {options.round_trips} trips"
    )
    print(f"{'':24}{'template':>12}{'plain':>12}{'ratio':>8}")
    for label, key in rows:
        value = template[key] / plain[key]
        print(f"{label:24}{template[key]:12.1f}{plain[key]:12.1f}{value:8.2f}")
    print(
        f"progress reports: walk of {options.steps} steps "
        f"{template['walk_reported_ms']:.1f} ms, without reports "
        f"{template['walk_quiet_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
