"""The versions a bake installs: pinned by its constraints.txt, and both
ends of the ranges its pyproject.toml allows.

The Dockerfile and the CI workflow install with constraints.txt, and so does
the shared venv every other test runs bakes in. Here the lowest versions the
ranges allow for the direct dependencies, and the newest ones, run the tests
that lean on kombu's Redis channel (the workaround of
app/platform/redis_channel_close.py and its reproduction), on the database
layer (on PostgreSQL, where psycopg's classes are subclassed:
app/platform/postgres_liveness.py) and on the security headers' library.
"""

import re
from importlib.metadata import distributions

import pytest
from support import (
    REPO,
    TEMPLATE_PROJECT,
    baked,
    fresh_database,
    postgres_url,
    run_project_tests,
    shared_project_venv,
)

pytestmark = pytest.mark.e2e

# The bake's tests that touch what changes between releases most.
SENSITIVE_TESTS = (
    "tests/test_redis_channel_close.py",
    "tests/test_tasks_api.py",
    "tests/test_history.py",
    "tests/test_migrations.py",
    "tests/test_postgres_liveness.py",
    "tests/test_database.py",
    "tests/test_config.py",
)
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", re.MULTILINE)
# Installed by the venv itself, not by the project.
TOOLING = {"pip", "setuptools", "wheel"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_installed_package_is_pinned(project_venv):
    """Nothing the project installs escapes constraints.txt (keep it current:
    scripts/update-constraints)."""
    constraints = (TEMPLATE_PROJECT / "constraints.txt").read_text()
    pinned: dict[str, set[str]] = {}
    for name, version in PIN.findall(constraints):
        pinned.setdefault(normalise(name), set()).add(version)
    site_packages = next(project_venv.path.glob("lib/python*/site-packages"))
    installed = {
        normalise(dist.metadata["Name"]): dist.version
        for dist in distributions(path=[str(site_packages)])
    }
    unpinned = {
        name: version
        for name, version in installed.items()
        if name not in TOOLING and version not in pinned.get(name, set())
    }
    assert unpinned == {}, "not in constraints.txt: run scripts/update-constraints"


@pytest.mark.parametrize("versions", ["lowest", "newest"])
def test_the_ends_of_the_allowed_ranges_pass_the_sensitive_tests(cookies, versions):
    """A bake's most version-sensitive tests pass on both ends of its ranges."""
    venv = shared_project_venv(REPO / ".cache", versions=versions)
    with fresh_database() as database:
        completed = run_project_tests(
            baked(cookies),
            venv,
            "-p",
            "no:cacheprovider",
            "-rs",
            *SENSITIVE_TESTS,
            env={"TEST_DATABASE_URL": postgres_url(database)},
        )
    assert " passed" in completed.stdout
    assert "skipped" not in completed.stdout, completed.stdout
