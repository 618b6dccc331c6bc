"""Client side of one measurement, run in the baked project's virtualenv.

    python measure.py MODULE TASKS ROUND_TRIPS [STEPS]

MODULE is `template_app` or `plain_app`; its worker is already running.
Prints one JSON object: throughput (tasks/s) and round-trip latencies (ms).
"""

import json
import statistics
import sys
import time
from importlib import import_module


def throughput(celery, tasks: int) -> float:
    """Tasks per second, from the first send to the last stored result."""
    backend = celery.backend
    started = time.perf_counter()
    ids = [celery.send_task("bench.noop").id for _ in range(tasks)]
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    pending = keys
    while pending:
        values = backend.mget(pending)
        pending = [
            key for key, value in zip(pending, values, strict=True) if value is None
        ]
        if pending:
            time.sleep(0.005)
    return tasks / (time.perf_counter() - started)


def round_trips(celery, count: int, name: str = "bench.noop", **kwargs) -> list[float]:
    """Milliseconds from sending one task to holding its result."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        celery.send_task(name, kwargs=kwargs).get(timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share) - 1]


def main(module: str, tasks: int, count: int, steps: int) -> None:
    celery = import_module(module).celery
    round_trips(celery, 5)  # warm the connections up
    latencies = round_trips(celery, count)
    result = {
        "throughput": throughput(celery, tasks),
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
    }
    if steps:
        long_task = "app.tasks.progress.long_task"
        reported = round_trips(celery, 3, long_task, total=steps, delay=0)
        quiet = round_trips(celery, 3, "bench.quiet_long_task", total=steps, delay=0)
        result["long_task_reported_ms"] = statistics.median(reported)
        result["long_task_quiet_ms"] = statistics.median(quiet)
    print(json.dumps(result))


if __name__ == "__main__":
    module, tasks, count, *rest = sys.argv[1:]
    main(module, int(tasks), int(count), int(rest[0]) if rest else 0)
