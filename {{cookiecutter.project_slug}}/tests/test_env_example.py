"""`.env.example` lists every variable the code reads, and is safe to copy."""

import re

from conftest import PROJECT_DIR
from dotenv import dotenv_values

# `env("NAME"`, `env_int("NAME"`, `os.environ.get("NAME"` ...
READ = re.compile(r"""(?:\benv\w*|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
LISTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def variables_read() -> set[str]:
    sources = [*PROJECT_DIR.glob("*.py"), *(PROJECT_DIR / "app").rglob("*.py")]
    return {name for path in sources for name in READ.findall(path.read_text())}


def test_every_variable_the_code_reads_is_listed():
    """A new setting in the code without its line in .env.example fails here."""
    listed = set(LISTED.findall((PROJECT_DIR / ".env.example").read_text()))
    assert variables_read() - listed == set()
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} <= variables_read()


def test_a_copied_example_keeps_development_free_of_servers():
    """`cp .env.example .env` sets no broker or database: zero setup stays zero."""
    values = dotenv_values(PROJECT_DIR / ".env.example")
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DATABASE_URL"):
        assert not values.get(name), name
    assert values["APP_ENV"] == "development"
