"""Celery beat sends the periodic tasks of the schedule; a worker runs them."""

import time
import uuid

from conftest import celery_process, wait_for


def test_beat_and_a_worker_run_the_heartbeat(broker_urls, tmp_path):
    """With a one-second schedule, the heartbeat task runs within seconds."""
    env = {**broker_urls, "HEARTBEAT_SECONDS": "1"}
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = ["worker", "--pool", "threads", "-l", "INFO", "--hostname", "beat@%h"]
    beat = ["beat", "-l", "INFO", "--schedule", str(tmp_path / "schedule")]
    with (
        celery_process(worker, env, worker_log, ready=" ready."),
        celery_process(beat, env, beat_log, ready="beat: Starting"),
    ):
        wait_for(
            lambda: (
                "heartbeat" in worker_log.read_text()
                and "succeeded" in worker_log.read_text()
            ),
            30,
            f"a heartbeat run: {beat_log.read_text()}",
        )


def test_heartbeats_missed_while_no_worker_ran_are_dropped(broker_urls, tmp_path):
    """Beat ran alone for a while: a worker that comes back runs the newest
    heartbeat or two, not the whole backlog at once."""
    queue = f"beat-{uuid.uuid4().hex}"
    env = {**broker_urls, "HEARTBEAT_SECONDS": "1"}
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    beat = ["beat", "-l", "INFO", "--schedule", str(tmp_path / "schedule")]
    with celery_process(beat, env, beat_log, ready="beat: Starting"):
        wait_for(
            lambda: beat_log.read_text().count("Sending due task") >= 6, 30, "beat"
        )
        worker = ["worker", "--pool", "solo", "-l", "INFO", "--hostname", f"{queue}@%h"]
        with celery_process(worker, env, worker_log, ready=" ready."):
            time.sleep(1.5)
    # Six or more were queued; about one a second arrives while it runs.
    runs = worker_log.read_text().count("succeeded")
    assert 1 <= runs <= 4, worker_log.read_text()
