"""The app factory and the Celery app it builds."""

import gc
import pkgutil
import socket
import weakref
from importlib import import_module

from celery import Task
from celery.signals import worker_init, worker_process_init

from app import create_app, tasks
from app.config import BaseConfig


def test_building_many_apps_keeps_none_of_them(database_url):
    """Tests and tools build apps by the dozen: none outlives its last use
    (Celery keeps the latest as its default), and no signal receiver adds up."""
    receivers = len(worker_init.receivers), len(worker_process_init.receivers)
    settings = {"SQLALCHEMY_DATABASE_URI": database_url}
    apps = [weakref.ref(create_app("testing", settings)) for _ in range(20)]
    gc.collect()
    assert sum(ref() is not None for ref in apps) <= 1
    assert (len(worker_init.receivers), len(worker_process_init.receivers)) == receivers


def task_modules() -> list[str]:
    modules = pkgutil.iter_modules(tasks.__path__)
    return [f"app.tasks.{module.name}" for module in modules]


def test_every_task_module_is_listed_for_the_workers():
    """A module missing from CELERY["imports"] would be unknown to a worker
    that only beat or another task sends its tasks to."""
    assert sorted(BaseConfig.CELERY["imports"]) == sorted(task_modules())


def test_a_worker_knows_every_task_of_the_project(live_app):
    """A real worker, asked: every task of app/tasks, none only by a view."""
    declared = {
        task.name
        for name in task_modules()
        for task in vars(import_module(name)).values()
        if isinstance(task, Task)
    }
    queue = live_app.config["CELERY"]["task_default_queue"]
    inspect = live_app.extensions["celery"].control.inspect(
        destination=[f"{queue}@{socket.gethostname()}"], timeout=10
    )
    [registered] = inspect.registered().values()
    assert declared <= set(registered)
