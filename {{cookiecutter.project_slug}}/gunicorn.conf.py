"""gunicorn's settings: `gunicorn wsgi:app` reads this file from the folder
it starts in. Options on the command line win over it.
https://docs.gunicorn.org/en/stable/settings.html
"""

import os
import shutil
import tempfile

# /metrics adds up every worker process's numbers: they count in files of a
# folder of their own, made for this start of gunicorn. prometheus_client
# reads the variable when it is first imported: before the app is.
METRICS_FOLDER = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    METRICS_FOLDER = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="metrics-"
    )

from app.platform.logs import logging_config  # noqa: E402
from app.platform.tracing import start_tracing  # noqa: E402

# An access line per request, on standard error with the rest, in the
# project's format; it ends with the request's id (X-Request-ID).
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
logconfig_dict = logging_config()


def post_fork(server, worker) -> None:
    """Traces start in each worker process, after the fork."""
    start_tracing("{{ cookiecutter.project_slug }}-web")


def child_exit(server, worker) -> None:
    """A worker that exited leaves its gauges out of /metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if METRICS_FOLDER:
        shutil.rmtree(METRICS_FOLDER, ignore_errors=True)
