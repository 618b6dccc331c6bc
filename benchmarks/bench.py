"""What the template adds on top of plain Celery and bare Flask, in one run.

    .venv/bin/python benchmarks/bench.py            # full run (about 20 minutes)
    .venv/bin/python benchmarks/bench.py --smoke    # does it work? (CI)
    .venv/bin/python benchmarks/bench.py --web-only --no-suite   # web pairs only
    .venv/bin/python benchmarks/bench.py --worker-only --no-suite

It bakes the default project into a temporary folder, starts a private
redis-server on a free port, creates a PostgreSQL database of its own on the
machine's server (127.0.0.1:5432, user postgres; dropped at the end) and
migrates it with `python manage.py db upgrade`, and measures, in alternating
order (A B, B A, ...) so that machine drift cancels out:

- worker throughput: no-op tasks through the baked app's Celery setup (its
  Task class, an app context per task, its config) against a plain
  `Celery()` app with default settings, same broker and worker flags, with
  1, 2 and 4 worker processes; and a third worker, plain Celery on the
  baked project's settings (tuned_app.py), which splits the gap into the
  cost of the settings and the cost of the code; the workers run at once,
  each on a Redis database of its own, and are sent batches in turn
  (measure.py), so the batches of a pair are seconds apart; the pairs are
  shared among several starts of the workers (--starts), since one start
  can run a few per cent faster or slower than the next;
- the instructions per no-op task of each worker (one process), counted by
  callgrind, which no other load on the machine moves;
- with --prefetch-multiplier N, the template's and tuned workers hold N
  tasks per process instead of the config's one (plain Celery keeps its
  default of 4): what that setting costs;
- round-trip latency (send -> result) p50/p95/p99 of one task, same pair;
- the cost of progress reports: the demo long task against the same loop without
  reports;
- the web tier under gunicorn (2 sync workers): POST /tasks (a row
  inserted and committed, then one task published) and GET /tasks/<id> (one
  result read) against a bare Flask endpoint doing the same SQL and Redis
  work (bare_web.py), and against bare Flask doing the template's
  per-request duties by hand as well (duties_web.py: rate limit, pre-ping,
  session cookie, signed id, security headers), with 10 and 100 concurrent
  clients polling, load from wrk; the rows each POST load wrote are counted;
- the time to bake the default project, and (full run only, unless
  --no-suite) the wall time of the template's own test suite.

It prints tables of medians and ratios, then one JSON line. Read the ratios:
the machine is noisy.
"""

import argparse
import base64
import contextlib
import functools
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import redis
from celery import Celery
from cookiecutter.main import cookiecutter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from load import wrk  # noqa: E402 (after the path is set)
from support import (  # noqa: E402
    POSTGRES_HOST,
    POSTGRES_PORT,
    REPO,
    ManagedProcess,
    clean_env,
    free_port,
    port_is_open,
    postgres_url,
    private_redis,
    shared_project_venv,
    wait_for_port,
    wait_until,
)

WORKERS = {"template": "template_app", "plain": "plain_app", "tuned": "tuned_app"}
# The workers on the project's settings, which --prefetch-multiplier changes.
PROJECT_WORKERS = ("template", "tuned")
WEB_APPS = {
    "template": "wsgi:app",
    # The same app, its traces exported over OTLP (to a sink that answers 200).
    "traced": "wsgi:app",
    "bare": "bare_web:app",
    "duties": "duties_web:app",
}
# The table each web app writes a row to on POST /tasks.
WEB_TABLES = {
    "template": "jobs",
    "traced": "jobs",
    "bare": "bare_jobs",
    "duties": "bare_jobs",
}
# Round trips a worker under callgrind runs before the counted tasks.
WARM_UP = 20
# The queue every web app publishes to (Celery's default).
CELERY_QUEUE = "celery"
# Numbers summed over rounds, not compared: requests sent, answers failed,
# rows written.
COUNTS = ("requests", "failed", "rows")


class Bench:
    """The baked project, its venv and Redis: what every measurement needs."""

    def __init__(
        self,
        options,
        venv,
        project: Path,
        redis_url: str,
        database_url: str,
        folder: Path,
    ):
        self.options, self.venv, self.project = options, venv, project
        self.redis_url, self.database_url = redis_url, database_url
        self.folder = folder
        self.otlp_sink = otlp_sink()
        # What each web app's POST /tasks put on the queue (must agree).
        self.messages: dict[str, dict] = {}
        # clean_env also raises the project's rate limits and queue limit
        # (support.UNLIMITED): the load is never refused, and every POST is
        # still counted by the rate limiter, as in production.
        self.env = clean_env(
            venv,
            project,
            PYTHONPATH=f"{project}{os.pathsep}{HERE}",
            APP_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(48),
            APP_BASE_URL="http://127.0.0.1",
            CELERY_BROKER_URL=redis_url,
            DATABASE_URL=database_url,
            BENCH_REDIS_URL=redis_url,
            BENCH_DATABASE_URL=database_url,
        )

    def migrate(self) -> None:
        """The baked app's schema as a deployment builds it, then bare_jobs."""
        for command in (
            ("python", "manage.py", "db", "upgrade"),
            ("python", "-m", "bare_web"),
        ):
            completed = self.run(*command, check=False)
            if completed.returncode != 0:
                raise SystemExit(
                    f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}"
                )

    def rows(self, table: str) -> int:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def empty(self, table: str) -> None:
        with psycopg.connect(self.database_url) as connection:
            connection.execute(f"TRUNCATE {table}")

    def start(self, name: str, *command: str, **settings: str) -> ManagedProcess:
        return ManagedProcess(
            [str(self.venv.bin(command[0])), *command[1:]],
            cwd=self.project,
            env={**self.env, **settings},
            log=self.folder / f"{name}.log",
        ).start()

    def run(
        self, *command: str, check: bool = True, **settings: str
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.venv.bin(command[0])), *command[1:]],
            cwd=self.project,
            env={**self.env, **settings},
            capture_output=True,
            text=True,
            check=check,
        )

    def flush(self) -> None:
        self.redis_client.flushall()

    @functools.cached_property
    def celery(self) -> Celery:
        """A client of the run's Redis, as broker and result store."""
        return Celery(broker=self.redis_url, backend=self.redis_url)

    @property
    def redis_client(self) -> redis.Redis:
        """The run's Redis itself (queues and results share its database 0)."""
        return self.celery.backend.client

    def worker_run(self, concurrency: int, full: bool) -> dict:
        """The pairs of workers with `concurrency` processes, over `--starts`
        starts of the workers, the pairs shared among them.

        A figure of one start is good to a few per cent either way, partly
        the pairs' scatter and partly the start itself (two workers of the
        same code and settings differed by up to 3 % in a run of their own:
        docs/benchmarks.md); several starts sample both.
        """
        options = self.options
        starts = [
            self.worker_start(
                concurrency,
                first=options.pairs * number // options.starts,
                pairs=share(options.pairs, options.starts, number),
                trips=share(options.round_trips, options.starts, number) if full else 5,
                steps=options.steps if full and number == 0 else 0,
            )
            for number in range(options.starts)
        ]
        return {setup: pooled([start[setup] for start in starts]) for setup in WORKERS}

    def worker_start(
        self, concurrency: int, first: int, pairs: int, trips: int, steps: int
    ) -> dict:
        """Start the workers, run the client's pairs against them, stop them.

        They run at once, each on a Redis database of its own, so that the
        client can take turns between them batch by batch; the idle ones
        only wait on their queues.
        """
        urls = self.worker_urls()
        workers = [
            self.start(
                f"worker-{setup}-c{concurrency}-{first}",
                "celery",
                *worker_arguments(setup, concurrency, self.options.prefetch_multiplier),
                **worker_settings(urls[setup]),
            )
            for setup in WORKERS
        ]
        try:
            for (setup, module), worker in zip(WORKERS.items(), workers, strict=True):
                self.wait_for_worker(setup, module, worker, urls[setup])
            held = {setup: prefetch_count(url) for setup, url in urls.items()}
            client = [str(HERE / "measure.py"), str(self.options.tasks)]
            completed = self.run(
                "python",
                *client,
                *(str(number) for number in (pairs, trips, steps, first)),
                CELERY_BROKER_URL=urls["template"],
                BENCH_REDIS_URL=urls["plain"],
                BENCH_TUNED_REDIS_URL=urls["tuned"],
            )
            results = json.loads(completed.stdout)
            for setup, count in held.items():
                results[setup]["prefetch_count"] = count
            return results
        finally:
            for worker in workers:
                worker.stop()
            self.flush()

    def worker_urls(self) -> dict[str, str]:
        """Each worker's Redis database (1, 2, 3; the web pairs use 0)."""
        server = self.redis_url.rsplit("/", 1)[0]
        return {setup: f"{server}/{number}" for number, setup in enumerate(WORKERS, 1)}

    def instructions(self, setup: str, tasks: int) -> dict[str, int]:
        """Instructions that callgrind counts in a worker of one process
        which runs WARM_UP, then `tasks` no-op tasks, start and stop
        included: its main process's, and its pool process's."""
        url = self.worker_urls()[setup]
        counts = self.folder / f"callgrind-{setup}-{tasks}"
        counts.mkdir()
        command = [
            *("valgrind", "--tool=callgrind", "--trace-children=yes"),
            f"--callgrind-out-file={counts}/%p",
            str(self.venv.bin("celery")),
            *worker_arguments(setup, 1, self.options.prefetch_multiplier),
        ]
        # A fixed hash seed: the same dict layouts, the same count each run.
        env = {**self.env, **worker_settings(url), "PYTHONHASHSEED": "0"}
        log = self.folder / f"callgrind-{setup}-{tasks}.log"
        worker = ManagedProcess(command, self.project, env, log).start()
        try:
            client = Celery(broker=url, backend=url)
            # The first waits for the worker to start (slow under valgrind).
            client.send_task("bench.noop").get(timeout=600)
            for _ in range(WARM_UP):
                client.send_task("bench.noop").get(timeout=60)
            results = [client.send_task("bench.noop") for _ in range(tasks)]
            for result in results:
                result.get(timeout=600)
            # The main process alone, as a process manager stops it; the
            # counts are written as each process exits.
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=300)
        finally:
            worker.stop()
        return callgrind_totals(counts, worker.process.pid)

    def wait_for_worker(
        self, setup: str, module: str, worker: ManagedProcess, url: str
    ) -> None:
        ping = ("celery", "-A", f"{module}.celery", "inspect", "ping")
        wait_until(
            lambda: (
                self.run(*ping, check=False, **worker_settings(url)).returncode == 0
            ),
            timeout=60,
            message=lambda: f"{setup} worker did not answer: {worker.log_text()}",
        )

    def web_run(self, server: str) -> dict:
        """Serve `server` with gunicorn and load it: POST, then GET polling."""
        port = free_port()
        tracing = (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_sink}
            if server == "traced"
            else {}
        )
        web = self.start(
            f"web-{server}",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            WEB_APPS[server],
            **tracing,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_port("127.0.0.1", port, timeout=60)
            status_url, cookie = self.finished_task(base)
            self.check_same_message(server)
            table = WEB_TABLES[server]
            before = self.rows(table)
            results = {"post": self.load("POST", f"{base}/tasks", 16)}
            # Every 202 was committed first; a request still in flight when
            # wrk stopped may have written one more row.
            results["post"]["rows"] = self.rows(table) - before
            for clients in (10, 100):
                results[f"get_{clients}"] = self.load(
                    "GET", base + status_url, clients, cookie
                )
            return results
        finally:
            web.stop()
            self.flush()
            self.empty(WEB_TABLES[server])

    def finished_task(self, base: str) -> tuple[str, str]:
        """Start a task over HTTP and store its result: what a poll then reads.

        Returns its status URL and the session cookie of the client that
        started it (tasks are their owner's).
        """
        request = urllib.request.Request(
            f"{base}/tasks",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
            # The bare app keeps no session: no cookie.
            cookie = response.headers.get("Set-Cookie", "").split(";", 1)[0]
        finished = {"current": 1, "total": 1}
        self.celery.backend.store_result(answer["id"], finished, "SUCCESS")
        return answer["status_url"], cookie

    def check_same_message(self, server: str) -> None:
        """Fail unless every web app publishes the template's task message.

        Only the task's name and id may differ: a yardstick's work must be
        the template's, arguments and time limits included.
        """
        message = json.loads(self.redis_client.lindex(CELERY_QUEUE, 0))
        self.messages[server] = {
            "body": base64.b64decode(message["body"]),
            "timelimit": message["headers"]["timelimit"],
            "content-type": message["content-type"],
        }
        template = self.messages.get("template")
        for name, message in self.messages.items():
            if template is not None and message != template:
                raise SystemExit(
                    f"The web apps publish different messages: {template} "
                    f"(template) against {message} ({name}): fix {name}'s app"
                )

    def load(self, method: str, url: str, clients: int, cookie: str = "") -> dict:
        return wrk(method, url, clients, self.options.seconds, cookie)


def worker_arguments(
    setup: str, concurrency: int, prefetch_multiplier: int | None
) -> list[str]:
    """The arguments of `celery` that start the worker of `setup`.

    With `prefetch_multiplier`, the project's workers hold that many tasks
    per process instead of the config's one; plain Celery keeps its default.
    """
    arguments = [
        *("-A", f"{WORKERS[setup]}.celery", "worker", "--pool", "prefork"),
        *("--concurrency", str(concurrency), "-l", "WARNING"),
    ]
    if prefetch_multiplier is not None and setup in PROJECT_WORKERS:
        arguments += ["--prefetch-multiplier", str(prefetch_multiplier)]
    return arguments


def prefetch_count(url: str) -> int:
    """How many tasks the worker on `url` may hold: what it runs with."""
    app = Celery(broker=url)
    try:
        stats = app.control.inspect(timeout=10, limit=1).stats() or {}
    finally:
        app.close()
    if len(stats) != 1:
        raise SystemExit(f"expected one worker on {url}, {len(stats)} answered")
    (worker,) = stats.values()
    return worker["prefetch_count"]


def worker_settings(url: str) -> dict[str, str]:
    """The environment of a worker (or its ping) on the Redis at `url`.

    Every app is given it: the template's reads CELERY_BROKER_URL, the plain
    one BENCH_REDIS_URL, the tuned one BENCH_TUNED_REDIS_URL, and Celery
    lets CELERY_BROKER_URL override the broker of any app, the plain one's
    too.
    """
    return {
        "CELERY_BROKER_URL": url,
        "BENCH_REDIS_URL": url,
        "BENCH_TUNED_REDIS_URL": url,
    }


def otlp_sink() -> str:
    """The URL of an OTLP endpoint in this process that takes every export
    and keeps none: the traced web app's exporter works as against a
    collector, and nothing here grows."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    options = parse_arguments()
    venv = shared_project_venv(REPO / ".cache")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        report = {"bake_s": bake_seconds(folder, 1 if options.smoke else 5)}
        project = Path(cookiecutter(str(REPO), no_input=True, output_dir=folder))
        redis = private_redis(folder)
        try:
            with bench_database() as database:
                report["database"] = database
                url = postgres_url(database["name"])
                bench = Bench(options, venv, project, redis.url, url, folder)
                bench.migrate()
                report.update(run_rounds(bench))
        finally:
            redis.stop()
    if options.run_suite:
        report["suite"] = suite_time()
    print_tables(report, options)
    print(json.dumps({"benchmark": "flask-celery", **vars(options), **report}))


@contextlib.contextmanager
def bench_database() -> Iterator[dict]:
    """A new PostgreSQL database for this run, dropped after it.

    Yields its name and the server's settings that weigh on a commit.
    """
    if not port_is_open(POSTGRES_HOST, POSTGRES_PORT):
        raise SystemExit(
            f"The benchmark needs PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT} "
            "(user postgres, no password): scripts/test starts it"
        )
    name = f"bench_{secrets.token_hex(8)}"
    admin = postgres_url("postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        settings = dict(
            connection.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('server_version', 'synchronous_commit', 'fsync')"
            ).fetchall()
        )
    try:
        settings["server_version"] = settings["server_version"].split()[0]
        yield {"name": name, **settings}
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bake_seconds(folder: Path, bakes: int) -> float:
    """Median seconds to bake the default project (hooks included)."""
    times = []
    for number in range(bakes):
        started = time.perf_counter()
        cookiecutter(str(REPO), no_input=True, output_dir=folder / f"bake-{number}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def suite_time() -> dict:
    """Wall time of the template's test suite, run as scripts/test runs it."""
    started = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "4",
            "--dist",
            "worksteal",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout else ""
    passed = re.search(r"(\d+) passed", summary)
    return {
        "seconds": seconds,
        "passed": int(passed[1]) if passed else 0,
        "exit_code": completed.returncode,
    }


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny, to check it runs")
    parser.add_argument("--rounds", type=int, default=3, help="of the web pairs")
    parser.add_argument(
        "--pairs", type=int, default=20, help="of worker batches, per process count"
    )
    parser.add_argument(
        "--tasks", type=int, default=1500, help="no-op tasks per worker batch"
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=4,
        help="of the workers per process count, the pairs shared among them",
    )
    parser.add_argument(
        "--instruction-tasks",
        type=int,
        default=1000,
        help="no-op tasks counted in instructions (callgrind), per worker; 0: none",
    )
    parser.add_argument(
        "--prefetch-multiplier",
        type=int,
        help="run the template's and tuned workers with this instead of the "
        "config's 1 (plain Celery keeps its 4): what the setting costs",
    )
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument(
        "--seconds", type=int, default=4, help="of HTTP load, per measurement"
    )
    parser.add_argument(
        "--no-suite",
        dest="run_suite",
        action="store_false",
        help="skip timing the template's test suite (about 3 minutes)",
    )
    parser.add_argument(
        "--web-only",
        action="store_true",
        help="measure the web pairs only, not the worker pairs",
    )
    parser.add_argument(
        "--worker-only",
        action="store_true",
        help="measure the worker pairs only, not the web pairs",
    )
    options = parser.parse_args()
    # Worker processes per measured worker; -c 2 also measures round trips.
    options.concurrencies = (1, 2, 4)
    if options.smoke:
        options.rounds, options.tasks, options.round_trips = 1, 50, 20
        # No instruction counts: six workers under valgrind take minutes.
        options.pairs, options.starts, options.instruction_tasks = 2, 2, 0
        options.steps, options.seconds, options.run_suite = 50, 1, False
        options.concurrencies = (2,)
    return options


def run_rounds(bench: Bench) -> dict:
    """The worker pairs, then the web pairs in alternating rounds.

    Ratios are the median of each pair's or round's own ratio (template /
    yardstick, measured next to each other), which cancels drift better
    than a ratio of medians.
    """
    report: dict = {"ratios": {}, "ratios_by_pair": {}}
    if not bench.options.web_only:
        for concurrency in bench.options.concurrencies:
            worker_pairs(bench, concurrency, report)
        instruction_counts(bench, report)
    if not bench.options.worker_only:
        web_rounds(bench, report)
    return report


def worker_pairs(bench: Bench, concurrency: int, report: dict) -> None:
    """The workers with `concurrency` processes: medians, ratios, spread."""
    results = bench.worker_run(concurrency, full=concurrency == 2)
    ours, theirs, tuned = results["template"], results["plain"], results["tuned"]
    by_pair = batch_ratios(ours, theirs)
    pair = f"c{concurrency}"
    for setup, result in results.items():
        report[f"{setup}-{pair}"] = {
            **result,
            "throughput": statistics.median(result["throughput"]),
        }
    ratios = {
        "throughput": statistics.median(by_pair),
        # Plain Celery on the project's settings: the settings' share of the
        # gap (tuned / plain) and the code's (template / tuned).
        "settings_throughput": statistics.median(batch_ratios(tuned, theirs)),
        "code_throughput": statistics.median(batch_ratios(ours, tuned)),
    }
    ratios.update({key: ours[key] / theirs[key] for key in ("p50", "p95", "p99")})
    report["ratios"][pair] = ratios
    # Each pair's own ratio, to read the spread of a noisy machine, and the
    # median of each start's, to read the spread between starts.
    report["ratios_by_pair"][pair] = by_pair
    report.setdefault("ratios_by_start", {})[pair] = start_medians(
        by_pair, bench.options.starts
    )


def batch_ratios(ours: dict, theirs: dict) -> list[float]:
    """The throughput ratio of each pair's two batches."""
    rates = zip(ours["throughput"], theirs["throughput"], strict=True)
    return [mine / yours for mine, yours in rates]


def start_medians(by_pair: list[float], starts: int) -> list[float]:
    """The median ratio of each start's pairs: consecutive, as `share` cut them."""
    bounds = [len(by_pair) * number // starts for number in range(starts + 1)]
    return [
        statistics.median(by_pair[begin:end])
        for begin, end in itertools.pairwise(bounds)
    ]


def share(total: int, parts: int, number: int) -> int:
    """Part `number` of `total` split into `parts` nearly equal whole parts."""
    return total * (number + 1) // parts - total * number // parts


def pooled(starts: list[dict]) -> dict:
    """One setup's numbers over all starts: every batch and round trip."""
    result = {"throughput": [rate for start in starts for rate in start["throughput"]]}
    trips = [trip for start in starts for trip in start["round_trips_ms"]]
    cuts = statistics.quantiles(trips, n=100, method="inclusive")
    result.update(p50=statistics.median(trips), p95=cuts[94], p99=cuts[98])
    for start in starts:
        result.update(
            {
                key: value
                for key, value in start.items()
                if key.startswith("long_") or key == "prefetch_count"
            }
        )
    return result


def instruction_counts(bench: Bench, report: dict) -> None:
    """Instructions per no-op task of each worker, counted by callgrind.

    No other load on the machine moves a count, so these ratios hold still
    where the throughput ratios scatter by a few per cent. Each worker runs
    twice, with a few tasks and with `--instruction-tasks` more; the
    difference, divided by the difference in tasks, is the cost of a task
    without the start and stop. The three run at once, each on a Redis
    database of its own; the count does not depend on the pace.
    """
    if not bench.options.instruction_tasks:
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("The benchmark needs valgrind: scripts/test installs it")
    few, more = bench.options.instruction_tasks // 10, bench.options.instruction_tasks
    runs = {}
    with ThreadPoolExecutor(len(WORKERS)) as threads:
        for tasks in (few, few + more):
            futures = {
                setup: threads.submit(bench.instructions, setup, tasks)
                for setup in WORKERS
            }
            runs[tasks] = {setup: future.result() for setup, future in futures.items()}
            bench.flush()
    per_task = {
        setup: {
            process: (runs[few + more][setup][process] - runs[few][setup][process])
            / more
            for process in ("main", "pool", "both")
        }
        for setup in WORKERS
    }
    report["instructions"] = per_task
    report["ratios"]["instructions"] = {
        setup: {
            process: per_task[setup][process] / per_task["plain"][process]
            for process in ("main", "pool", "both")
        }
        for setup in ("template", "tuned")
    }


def callgrind_totals(folder: Path, main_pid: int) -> dict[str, int]:
    """The instructions of a worker's main process and of its pool
    processes, from the callgrind files in `folder` (one per process; the
    ones of programs the worker ran, such as `uname`, left out)."""
    totals = {"main": 0, "pool": 0}
    for path in folder.iterdir():
        # The header, before the first function's costs, has pid, cmd and
        # summary (the process's instructions).
        header = path.read_text(errors="replace").partition("\nfn=")[0]
        fields = dict(
            line.split(": ", 1) for line in header.splitlines() if ": " in line
        )
        if "celery" not in fields.get("cmd", ""):
            continue
        process = "main" if int(fields["pid"]) == main_pid else "pool"
        totals[process] += int(fields["summary"])
    if not totals["main"] or not totals["pool"]:
        raise SystemExit(f"callgrind counted no worker in {folder}: {totals}")
    totals["both"] = totals["main"] + totals["pool"]
    return totals


def web_rounds(bench: Bench, report: dict) -> None:
    """Every web app once per round, in alternating order (A B, B A, ...)."""
    samples: dict[str, list[dict]] = {}
    for number in range(bench.options.rounds):
        servers = list(WEB_APPS)
        for server in reversed(servers) if number % 2 == 1 else servers:
            samples.setdefault(f"web-{server}", []).append(bench.web_run(server))
    report.update({name: medians(results) for name, results in samples.items()})
    pairs = {
        "web": ("web-template", "web-bare"),
        "web_duties": ("web-template", "web-duties"),
        "duties": ("web-duties", "web-bare"),
        "traced": ("web-traced", "web-template"),
    }
    by_round = {
        pair: round_ratios(samples[ours], samples[theirs])
        for pair, (ours, theirs) in pairs.items()
    }
    report["ratios"].update(
        {pair: median_of(ratios) for pair, ratios in by_round.items()}
    )
    # Each round's own ratios, to read the spread of a noisy machine.
    report["ratios_by_round"] = by_round


def round_ratios(ours: list[dict], theirs: list[dict]) -> dict:
    """Each round's ours / theirs, for each number both have."""
    ratios = {}
    for key, value in theirs[0].items():
        if key in COUNTS or key not in ours[0]:
            continue
        if isinstance(value, dict):
            ratios[key] = round_ratios([o[key] for o in ours], [t[key] for t in theirs])
        else:
            ratios[key] = [o[key] / t[key] for o, t in zip(ours, theirs, strict=True)]
    return ratios


def median_of(ratios: dict) -> dict:
    """The median over rounds of each ratio of `round_ratios`."""
    return {
        key: median_of(value) if isinstance(value, dict) else statistics.median(value)
        for key, value in ratios.items()
    }


def medians(results: list[dict]) -> dict:
    """The median of each number across rounds; counts are summed."""
    merged = {}
    for key, value in results[0].items():
        if key in COUNTS:
            merged[key] = sum(r[key] for r in results)
        elif isinstance(value, dict):
            merged[key] = medians([r[key] for r in results])
        else:
            merged[key] = statistics.median(r[key] for r in results)
    return merged


def print_tables(report: dict, options) -> None:
    print("medians; ratio = template / yardstick, the median of each pair's")
    print("or round's own ratio")
    if not options.web_only:
        print_worker_tables(report, options)
    print(f"bake of the default project: {report['bake_s']:.2f} s")
    if "suite" in report:
        suite = report["suite"]
        print(
            f"template test suite (pytest -n 4): {suite['seconds']:.0f} s, "
            f"{suite['passed']} passed, exit code {suite['exit_code']}"
        )
    if not options.worker_only:
        print(f"\nweb: {options.rounds} rounds")
        print_web_table(report)


def print_worker_tables(report: dict, options) -> None:
    ratios = report["ratios"]
    print(
        f"\nworker (prefork), {options.pairs} pairs of {options.tasks} tasks over "
        f"{options.starts} starts of the workers; quartiles of the pairs' ratios"
    )
    print(f"{'':28}{'template':>12}{'plain':>12}{'ratio':>8}{'quartiles':>14}")
    for concurrency in options.concurrencies:
        pair = f"c{concurrency}"
        line(
            f"throughput -c {concurrency} (tasks/s)",
            report[f"template-{pair}"]["throughput"],
            report[f"plain-{pair}"]["throughput"],
            ratios[pair]["throughput"],
            end="",
        )
        print(f"{quartiles(report['ratios_by_pair'][pair]):>14}")
    print("median ratio of each start of the workers:")
    for concurrency in options.concurrencies:
        by_start = report["ratios_by_start"][f"c{concurrency}"]
        spread = " ".join(f"{ratio:.2f}" for ratio in by_start)
        print(f"{'  -c ' + str(concurrency):28}{spread}")
    print("tasks each worker may hold (its prefetch count, as it answered):")
    for concurrency in options.concurrencies:
        held = "".join(
            f"{setup} {report[f'{setup}-c{concurrency}']['prefetch_count']:<4}"
            for setup in WORKERS
        )
        print(f"{'  -c ' + str(concurrency):28}{held}")
    print("plain Celery on the template's settings (tuned): throughput ratios")
    for concurrency in options.concurrencies:
        pair, tuned = f"c{concurrency}", report[f"tuned-c{concurrency}"]
        print(
            f"{'  -c ' + str(concurrency):28}tuned {tuned['throughput']:.1f} tasks/s;"
            f" tuned / plain {ratios[pair]['settings_throughput']:.2f} (the settings),"
            f" template / tuned {ratios[pair]['code_throughput']:.2f} (the code)"
        )
    if "instructions" in report:
        print_instructions(report["instructions"])
    for key in ("p50", "p95", "p99"):
        line(
            f"round trip {key} (ms)",
            report["template-c2"][key],
            report["plain-c2"][key],
            ratios["c2"][key],
        )
    long_task = report["template-c2"]
    print(
        f"progress: long task of {options.steps} steps "
        f"{long_task['long_task_reported_ms']:.1f} ms, "
        f"same loop without reports {long_task['long_task_quiet_ms']:.1f} ms"
    )


def print_instructions(counts: dict) -> None:
    print("instructions per no-op task (callgrind, one process), millions:")
    for process in ("main", "pool", "both"):
        plain = counts["plain"][process]
        others = "".join(
            f", {setup} {counts[setup][process] / 1e6:.3f}"
            f" ({counts[setup][process] / plain:.3f})"
            for setup in ("tuned", "template")
        )
        print(f"{'  ' + process:28}plain {plain / 1e6:.3f}{others}")


def print_web_table(report: dict) -> None:
    ratios = report["ratios"]
    database = report["database"]
    print(
        f"\nweb: POST inserts and commits a row (PostgreSQL "
        f"{database['server_version']}, synchronous_commit="
        f"{database['synchronous_commit']}), then publishes; "
        "duties = bare Flask doing the template's per-request duties by hand"
    )
    servers = [report[f"web-{server}"] for server in ("template", "bare", "duties")]
    print(
        f"{'web (gunicorn -w 2)':28}{'template':>12}{'bare':>12}{'ratio':>8}"
        f"{'duties':>12}{'ratio':>8}"
    )
    for name, label in [
        ("post", "POST /tasks"),
        ("get_10", "GET, 10 pollers"),
        ("get_100", "GET, 100 pollers"),
    ]:
        for key, unit in (("rps", "req/s"), ("p99", "p99 ms")):
            template, bare, duties = (server[name][key] for server in servers)
            print(
                f"{label + ' ' + unit:28}{template:12.1f}{bare:12.1f}"
                f"{ratios['web'][name][key]:8.2f}{duties:12.1f}"
                f"{ratios['web_duties'][name][key]:8.2f}"
            )
    print(
        "the duties alone, duties / bare: POST "
        f"{ratios['duties']['post']['rps']:.2f}, polls "
        f"{ratios['duties']['get_10']['rps']:.2f} and "
        f"{ratios['duties']['get_100']['rps']:.2f} (req/s)"
    )
    print(
        "tracing on (OTLP over HTTP), traced / template: POST "
        f"{ratios['traced']['post']['rps']:.2f}, polls "
        f"{ratios['traced']['get_10']['rps']:.2f} and "
        f"{ratios['traced']['get_100']['rps']:.2f} (req/s)"
    )


def line(label: str, ours: float, theirs: float, ratio: float, end="\n") -> None:
    print(f"{label:28}{ours:12.1f}{theirs:12.1f}{ratio:8.2f}", end=end)


def quartiles(ratios: list[float]) -> str:
    """The first and third quartiles of `ratios`, as "0.93-1.02"."""
    if len(ratios) < 2:
        return ""
    first, _, third = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"{first:.2f}-{third:.2f}"


if __name__ == "__main__":
    main()
