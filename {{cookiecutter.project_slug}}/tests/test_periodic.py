"""Celery beat sends the periodic tasks of the schedule; a worker runs them."""

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
