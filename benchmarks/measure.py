"""Client side of the worker measurement, run in the baked project's virtualenv.

    python measure.py TASKS PAIRS ROUND_TRIPS STEPS FIRST_PAIR

The three workers are already running, each on a Redis database of its
own: template_app's (CELERY_BROKER_URL), plain_app's (BENCH_REDIS_URL) and
tuned_app's (BENCH_TUNED_REDIS_URL). Each is sent its tasks through its own
app, as its users would send them. A pair is one batch of TASKS no-op tasks
to each worker in turn (A B C, then B C A, then C A B), so the numbers of a
pair are measured seconds apart, through the same drift of a shared
machine. FIRST_PAIR numbers the first pair, so that the order keeps
turning when bench.py restarts the workers between calls. Round trips take
turns too, in runs of RUN. Prints one JSON object: for each setup, the
throughput of every batch (tasks/s) and every round trip's latency (ms).
"""

import json
import os
import statistics
import sys
import time
from importlib import import_module

SETUPS = ("template", "plain", "tuned")
# Round trips per turn of one setup.
RUN = 50
# Seconds a batch may take before the run stops (a worker on the wrong
# database would leave it waiting for ever).
BATCH_TIMEOUT = 300


def throughput(celery, tasks: int) -> float:
    """Tasks per second, from the first send to the last stored result."""
    backend = celery.backend
    started = time.perf_counter()
    ids = [celery.send_task("bench.noop").id for _ in range(tasks)]
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    pending = keys
    while pending:
        if time.perf_counter() - started > BATCH_TIMEOUT:
            raise SystemExit(f"{len(pending)} of {tasks} results never came")
        values = backend.mget(pending)
        pending = [
            key for key, value in zip(pending, values, strict=True) if value is None
        ]
        if pending:
            time.sleep(0.005)
    rate = tasks / (time.perf_counter() - started)
    backend.client.delete(*keys)  # the next batch starts on an equal Redis
    return rate


def round_trips(celery, count: int, name: str = "bench.noop", **kwargs) -> list[float]:
    """Milliseconds from sending one task to holding its result."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        celery.send_task(name, kwargs=kwargs).get(timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def in_turn(number: int) -> list[str]:
    """The setups in the order of pair `number`: each first in turn."""
    start = number % len(SETUPS)
    return list(SETUPS[start:] + SETUPS[:start])


def main(tasks: int, pairs: int, count: int, steps: int, first: int) -> None:
    # Both build the project's app, which reads CELERY_BROKER_URL; both pin
    # their own broker.
    template = import_module("template_app").celery
    tuned = import_module("tuned_app").celery
    # Celery lets CELERY_BROKER_URL override any app's broker: the plain app
    # is to use its own (BENCH_REDIS_URL).
    del os.environ["CELERY_BROKER_URL"]
    plain = import_module("plain_app").celery
    apps = {"template": template, "plain": plain, "tuned": tuned}
    for celery in apps.values():
        round_trips(celery, 5)  # warm the connections up
    rates: dict[str, list[float]] = {setup: [] for setup in apps}
    for number in range(first, first + pairs):
        for setup in in_turn(number):
            rates[setup].append(throughput(apps[setup], tasks))
    latencies: dict[str, list[float]] = {setup: [] for setup in apps}
    for number in range(-(-count // RUN)):
        for setup in in_turn(number):
            latencies[setup] += round_trips(apps[setup], RUN)
    results = {
        setup: {"throughput": rates[setup], "round_trips_ms": latencies[setup]}
        for setup in apps
    }
    if steps:
        long_task = "app.tasks.progress.long_task"
        reported = round_trips(template, 3, long_task, total=steps, delay=0)
        quiet = round_trips(template, 3, "bench.quiet_long_task", total=steps, delay=0)
        results["template"]["long_task_reported_ms"] = statistics.median(reported)
        results["template"]["long_task_quiet_ms"] = statistics.median(quiet)
    print(json.dumps(results))


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:6]))
