"""Settings: environment -> config classes -> app."""

import os
import ssl
import subprocess
import sys
import types

import pytest
from conftest import PROJECT_DIR

import app.config as settings_module
from app import create_app
from app.config import (
    ConfigurationError,
    ProductionConfig,
    StagingConfig,
    env_bool,
    env_int,
    env_list,
)
from app.platform.celery import embedded_settings
from app.platform.database import with_driver


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", False),
    ],
)
def test_env_bool_reads_yes_and_no(monkeypatch, value, expected):
    """It reads "false" as false, unlike bool("false")."""
    monkeypatch.setenv("FLAG", value)
    assert env_bool("FLAG") is expected


def test_env_int_rejects_a_typo(monkeypatch):
    """A typo in a number fails at start-up."""
    monkeypatch.setenv("PORT", "25x")
    with pytest.raises(ValueError):
        env_int("PORT", 25)


PRODUCTION_SETTINGS = {
    "SECRET_KEY": "x" * 48,
    "CELERY_BROKER_URL": "redis://localhost",
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.example/app",
    "APP_BASE_URL": "https://app.example.com",
}


def configure(monkeypatch, config_class, **changes) -> None:
    """Give `config_class` every required setting, then apply `changes`."""
    for name, value in {**PRODUCTION_SETTINGS, **changes}.items():
        monkeypatch.setattr(config_class, name, value)


@pytest.mark.parametrize("config_class", [ProductionConfig, StagingConfig])
@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("SECRET_KEY", "SECRET_KEY"),
        ("CELERY_BROKER_URL", "CELERY_BROKER_URL"),
        ("SQLALCHEMY_DATABASE_URI", "DATABASE_URL"),
        ("APP_BASE_URL", "APP_BASE_URL"),
    ],
)
def test_production_refuses_to_start_without(
    monkeypatch, config_class, missing, variable
):
    """Staging and production name the variable they are missing."""
    configure(monkeypatch, config_class, **{missing: None})
    with pytest.raises(RuntimeError, match=f"^{variable} is not set"):
        create_app(config_class.ENV_NAME)


@pytest.mark.parametrize("weak_key", ["short", "dev-only-not-secret", "x" * 31])
def test_production_refuses_a_weak_secret_key(monkeypatch, weak_key):
    """A short or well-known SECRET_KEY stops production at start-up."""
    configure(monkeypatch, ProductionConfig, SECRET_KEY=weak_key)
    with pytest.raises(RuntimeError, match=r"^SECRET_KEY is too weak"):
        create_app("production")


def test_production_refuses_a_weak_earlier_key(monkeypatch):
    """A key kept to verify old signatures must be as strong as the current one."""
    fallbacks = ["y" * 48, "dev-only-not-secret"]
    configure(monkeypatch, ProductionConfig, SECRET_KEY_FALLBACKS=fallbacks)
    with pytest.raises(RuntimeError, match=r"^SECRET_KEY_FALLBACKS is too weak"):
        create_app("production")


@pytest.mark.parametrize("config_class", [ProductionConfig, StagingConfig])
def test_production_refuses_an_smtp_login_in_clear(monkeypatch, config_class):
    """MAIL_USERNAME needs MAIL_USE_TLS or MAIL_USE_SSL outside development."""
    configure(monkeypatch, config_class, MAIL_USERNAME="app", MAIL_PASSWORD="pw")
    with pytest.raises(RuntimeError, match=r"^MAIL_USE_TLS or MAIL_USE_SSL") as error:
        create_app(config_class.ENV_NAME)
    assert "pw" not in str(error.value)
    for secure in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
        monkeypatch.setattr(config_class, secure, True)
        assert create_app(config_class.ENV_NAME)
        monkeypatch.setattr(config_class, secure, False)


def test_secret_key_fallbacks_are_read_comma_separated(monkeypatch):
    """SECRET_KEY_FALLBACKS=old1,old2 gives Flask the list it takes."""
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", " old-1 ,old-2,")
    assert env_list("SECRET_KEY_FALLBACKS") == ["old-1", "old-2"]


def test_production_starts_when_configured(monkeypatch):
    """With a secret, a broker and a database, production builds its app."""
    configure(monkeypatch, ProductionConfig)
    app = create_app("production")
    assert not app.debug
    assert app.config["SESSION_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_production_answers_carry_hsts(monkeypatch):
    """Production tells browsers to use HTTPS only; development does not."""
    configure(monkeypatch, ProductionConfig)
    hsts = "Strict-Transport-Security"
    with create_app("production").test_client() as client:
        assert client.get("/tasks/unknown").headers[hsts].startswith("max-age=")
    assert hsts not in create_app("development").test_client().get("/").headers


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db/app", "postgresql+psycopg://u:p@db/app"),
        ("postgres://u:p@db/app", "postgresql+psycopg://u:p@db/app"),
        ("postgresql+psycopg://db/app", "postgresql+psycopg://db/app"),
        ("sqlite:///app.sqlite", "sqlite:///app.sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg_3(url, expected):
    """`postgresql://` just works: it picks the driver the project installs."""
    assert with_driver(url) == expected


def test_development_needs_no_database_server(monkeypatch):
    """With no DATABASE_URL, development keeps a SQLite file in instance/."""
    app = create_app("development")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///")
    assert uri.endswith("/instance/development.sqlite")


def test_postgresql_connections_fail_fast_when_the_server_is_away(monkeypatch):
    """Opening a connection, or waiting for a pooled one, gives up in seconds;
    pooled connections are tested before use."""
    configure(monkeypatch, ProductionConfig)
    options = create_app("production").config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is True
    assert options["pool_timeout"] == options["connect_args"]["connect_timeout"] == 3


def test_unknown_app_env_is_refused():
    """A misspelt APP_ENV fails with the list of valid names."""
    with pytest.raises(RuntimeError, match="development"):
        create_app("prod")


def test_app_env_picks_the_config(monkeypatch):
    """With no name given, APP_ENV decides."""
    monkeypatch.setenv("APP_ENV", "testing")
    assert create_app().testing


def test_celery_accepts_json_only(app):
    """No pickle: a message can never make the worker run arbitrary code."""
    conf = app.extensions["celery"].conf
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == conf.result_serializer == "json"
    assert conf.timezone == "UTC"


def test_embedded_broker_keeps_everything_in_one_folder(tmp_path):
    """Without a broker server, queue and results are files under instance/."""
    settings = embedded_settings(tmp_path)
    assert (tmp_path / "queue").is_dir()
    assert settings["result_backend"] == (tmp_path / "results").as_uri()


def test_answers_carry_the_security_headers(client):
    """Pages and API answers forbid framing, sniffing and foreign scripts."""
    for response in (client.get("/"), client.get("/tasks/unknown")):
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"


def test_tests_never_send_real_mail():
    """A MAIL_SERVER in the developer's .env does not reach the testing config."""
    backends = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.config import DevelopmentConfig as d, TestingConfig as t;"
            "print(d.MAIL_BACKEND, t.MAIL_BACKEND)",
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, "MAIL_SERVER": "smtp.example.com"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert backends == ["smtp", "memory"]


def test_trusted_hosts_refuse_a_foreign_host_header():
    """TRUSTED_HOSTS=app.example.com: a request naming another Host gets 400
    (as JSON on the API), one naming the app's is served."""
    probe = (
        "from app import create_app;"
        "client = create_app('testing').test_client();"
        "foreign = client.get('/tasks/x', headers={'Host': 'evil.example'});"
        "ours = client.get('/tasks/x', headers={'Host': 'app.example.com'});"
        "print(foreign.status_code, foreign.is_json, ours.status_code)"
    )
    answers = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        env={**os.environ, "TRUSTED_HOSTS": "app.example.com, 10.0.0.5"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert answers == ["400", "True", "404"]


def test_any_host_is_served_unless_trusted_hosts_is_set(client):
    """Unset, Flask's default: no host is refused."""
    assert client.application.config["TRUSTED_HOSTS"] is None
    assert client.get("/", headers={"Host": "anything.example"}).status_code == 200


def test_app_config_is_the_settings_module():
    """`import app.config` gives the module, not a dict shadowing it."""
    assert isinstance(settings_module, types.ModuleType)
    assert set(settings_module.CONFIG_BY_NAME) == {
        "development",
        "testing",
        "staging",
        "production",
    }


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("CELERY_BROKER_URL", "rabbitmq://guest:guest@localhost:5672//"),
        ("CELERY_BROKER_URL", "redis://localhost:notaport/0"),
        ("CELERY_BROKER_URL", "localhost:6379"),
        ("CELERY_RESULT_BACKEND", "amqp://guest@localhost//"),
        ("CELERY_RESULT_BACKEND", "redis://localhost:63790000/0"),
        ("APP_BASE_URL", "app.example.com"),
{%- if not cookiecutter.use_redis_sentinel %}
        ("CELERY_BROKER_URL", "sentinel://10.0.0.1:26379"),
{%- endif %}
    ],
)
def test_a_malformed_celery_url_stops_the_app_naming_it(variable, url):
    """A typo fails at start, never with every request; no password shown."""
    with pytest.raises(ConfigurationError, match=f"^{variable} ") as refused:
        create_app("testing", {variable: url})
    assert "guest:guest" not in str(refused.value)


def test_mail_has_a_queue_of_its_own(app):
    """Mail goes to `mail`, long tasks to the default queue; a worker started
    without -Q consumes both."""
    celery = app.extensions["celery"]
    route = celery.amqp.router.route
    assert route({}, "app.tasks.email.send_confirmation_email")["queue"].name == "mail"
    assert route({}, "app.tasks.progress.long_task")["queue"].name == "celery"
    assert set(celery.amqp.queues) == {"celery", "mail"}


@pytest.mark.parametrize(
    ("query", "verify_mode"),
    [
        ("", ssl.CERT_REQUIRED),
        ("?ssl_cert_reqs=CERT_NONE", ssl.CERT_NONE),
    ],
)
def test_a_tls_redis_checks_certificates_unless_told_not_to(query, verify_mode):
    """A bare rediss:// URL verifies the server, for queue and results alike."""
    url = f"rediss://localhost:6380/0{query}"
    app = create_app(
        "testing", {"CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}
    )
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        assert connection.ssl["ssl_cert_reqs"] == verify_mode
    assert celery.backend.connparams["ssl_cert_reqs"] == verify_mode
