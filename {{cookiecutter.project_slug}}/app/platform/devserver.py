"""Run several processes as one for development (`python manage.py dev`).

Each process's output is shown line by line behind its name. Ctrl-C, SIGTERM
or the end of any process stops them all, children included: each runs in a
process group of its own, which is killed once its leader has stopped.
"""

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence

import click

COLOURS = ("cyan", "magenta", "green", "yellow")
# Seconds a process may take to shut down before it is killed.
GRACE_PERIOD = 10


def run_together(commands: Mapping[str, Sequence[str]], banner: str) -> int:
    """Run `commands` (name -> argv) until one ends or we are told to stop."""
    stopping = threading.Event()
    # Handled (not left to KeyboardInterrupt) so that Ctrl-C works even where
    # the shell started us with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    width = max(map(len, commands))
    processes: dict[str, subprocess.Popen] = {}
    ended = None
    try:
        for index, (name, argv) in enumerate(commands.items()):
            prefix = click.style(f"{name:>{width}} | ", fg=COLOURS[index % 4])
            processes[name] = start(argv, prefix)
        click.echo(banner)
        while ended is None and not stopping.wait(0.2):
            ended = next(
                (n for n, p in processes.items() if p.poll() is not None), None
            )
    finally:
        if ended is not None:
            click.echo(f"{ended} stopped; stopping the others.", err=True)
        for process in processes.values():
            stop(process)
    return 0 if ended is None else processes[ended].returncode or 1


def start(argv: Sequence[str], prefix: str) -> subprocess.Popen:
    """Start `argv` in a new process group, echoing its output behind `prefix`."""
    if os.name == "posix":
        group = {"start_new_session": True}
    else:
        group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        **group,
    )
    threading.Thread(target=echo, args=(process, prefix), daemon=True).start()
    return process


def echo(process: subprocess.Popen, prefix: str) -> None:
    for line in process.stdout:
        click.echo(prefix + line.rstrip("\n"))


def stop(process: subprocess.Popen) -> None:
    """Stop the process, then kill whatever it started that lingers.

    Only the leader gets SIGTERM, so that a worker shuts down warm and stops
    its own pool; its group is killed after, since children (the reloader's
    server) can outlive their parent.
    """
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(GRACE_PERIOD)
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
