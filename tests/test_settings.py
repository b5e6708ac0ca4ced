"""Configuration guarantees: SECRET_KEY, DEBUG default, persistent connections, Celery safety, the deploy check,
mail timeouts, and a README that documents exactly the settings read from the environment."""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _settings_env(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(overrides)
    return env


def _load_settings(env):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "referral_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _load_settings(_settings_env())
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_debug_is_off_unless_set():
    result = _load_settings(_settings_env(SECRET_KEY="x" * 50))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_database_connections_persist_and_are_health_checked():
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_celery_is_configured_for_safe_delivery():
    from referral_portal.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit < app.conf.task_time_limit


def _python_with_settings(code: str, env: dict) -> str:
    """Run `code` after django.setup() in a fresh process with `env`; its standard output."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "referral_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _celery_with_redis_broker(code: str) -> str:
    """Run `code` (with `app`, the project's Celery app) in a fresh process configured for a Redis broker."""
    env = _settings_env(SECRET_KEY="x" * 50, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    return _python_with_settings("from referral_portal.celery import app; " + code, env)


def test_redis_broker_fails_fast_instead_of_hanging():
    stdout = _celery_with_redis_broker(
        "o = app.conf.broker_transport_options; print(o['socket_timeout'], o['socket_connect_timeout'])"
    )
    socket_timeout, connect_timeout = (float(x) for x in stdout.split())
    assert 0 < socket_timeout <= 5
    assert 0 < connect_timeout <= 5


def test_beat_schedule_only_names_registered_tasks():
    from referral_portal.celery import app

    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_the_filesystem_broker_keeps_every_folder_under_var(tmp_path):
    """kombu's filesystem transport writes its exchange tables into ./control unless told otherwise."""
    var, cwd = tmp_path / "var", tmp_path / "elsewhere"
    cwd.mkdir()
    env = _settings_env(SECRET_KEY="x" * 50, CELERY_BROKER_URL="filesystem://", VAR_DIR=str(var), PYTHONPATH=str(ROOT))
    code = (
        "import django, json; django.setup(); from referral_portal.celery import app; "
        "app.send_task('referrals.tasks.credit_due_referrals'); "  # declares the exchange and queues one message
        "print(json.dumps(app.conf.broker_transport_options))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**env, "DJANGO_SETTINGS_MODULE": "referral_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout)
    folders = {name: Path(value) for name, value in options.items() if name.endswith("_folder") or "_folder_" in name}
    assert set(folders) == {"data_folder_in", "data_folder_out", "processed_folder", "control_folder"}
    assert all(folder.is_relative_to(var) for folder in folders.values()), folders
    assert list(cwd.iterdir()) == []  # nothing written into the working directory
    assert (folders["control_folder"] / "celery.exchange").exists()
    assert len(list(folders["data_folder_out"].iterdir())) == 1


def test_schema_commands_run_without_a_secret_key_but_serving_does_not():
    env = {**_settings_env(), "DJANGO_SETTINGS_MODULE": "referral_portal.settings"}
    ok = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "SECRET_KEY must be set when DEBUG is off" in refused.stderr


# --- Celery: a running task is never delivered to a second worker ----------------------------


def test_task_time_limits_are_below_the_redis_visibility_timeout():
    """With Redis, an unacknowledged task (acks_late) is delivered again after the visibility timeout: every task
    must be killed by its hard time limit first (docs/program-rules.md G1)."""
    stdout = _celery_with_redis_broker(
        "import json; app.loader.import_default_modules(); "
        "print(json.dumps({'visibility_timeout': app.conf.broker_transport_options.get('visibility_timeout'), "
        "'default': [app.conf.task_soft_time_limit, app.conf.task_time_limit], "
        "'tasks': {n: [t.soft_time_limit, t.time_limit] for n, t in app.tasks.items() "
        "if not n.startswith('celery.')}}))"
    )
    conf = json.loads(stdout.strip().splitlines()[-1])
    visibility = conf["visibility_timeout"]
    assert visibility, "set broker_transport_options['visibility_timeout'] explicitly for Redis"
    default_soft, default_hard = conf["default"]
    assert conf["tasks"], "no tasks registered"
    for name, (soft, hard) in conf["tasks"].items():
        soft, hard = soft or default_soft, hard or default_hard
        assert hard is not None, f"{name} has no hard time limit"
        assert soft is None or soft < hard, name
        assert hard < visibility, f"{name}: time limit {hard} s is not below the visibility timeout {visibility} s"


# --- manage.py check --deploy with production settings (docs/program-rules.md G5) ---------------

# What `make deploy-check` sets (Makefile DEPLOY_ENV), plus production's values for everything the test run
# or a developer's .env may set differently (pytest-env sets STAFF_REQUIRE_2FA=0; real variables win over .env).
PRODUCTION_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "portal.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "ORDER_EVENTS_SECRETS": "deploy-check-secret",
    "STAFF_REQUIRE_2FA": "1",
    "SECURE_COOKIES": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_PRELOAD": "1",
    "SILENCED_SYSTEM_CHECKS": "",
    "SHOP_SIMULATION": "0",
    "SMS_BACKEND": "accounts.sms.HTTPSMSBackend",
    "SMS_API_URL": "https://sms.example/messages",
    "BEHIND_PROXY": "0",
    "DATABASE_URL": "postgres://portal@db.invalid:5432/portal",  # never connected to by `check`
    "CELERY_BROKER_URL": "redis://redis.invalid:6379/0",
    "CACHE_URL": "redis://redis.invalid:6379/1",
}
# Only what a process needs to start: nothing of the test run (pytest-env, DATABASE_URL, REDIS_URL…) leaks in.
_PROCESS_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def _deploy_check(**overrides):
    env = {k: os.environ[k] for k in _PROCESS_ENV if k in os.environ}
    env.update(PRODUCTION_ENV, SECRET_KEY="deploy-check-" + secrets.token_hex(32))
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = _deploy_check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_a_warning():
    """The check above can fail: a production setting turned off (as pytest-env does for the suite) is a warning."""
    result = _deploy_check(STAFF_REQUIRE_2FA="0")
    assert result.returncode != 0
    assert "portal.W001" in result.stderr


def test_the_makefile_deploy_check_uses_the_same_production_values():
    makefile = (ROOT / "Makefile").read_text()
    block = re.search(r"^DEPLOY_ENV := (.*?)\n\n", makefile, re.S | re.M).group(1).replace("\\\n", " ")
    pairs = dict(re.findall(r"([A-Z][A-Z0-9_]*)=(\S*)", block))
    assert "SECRET_KEY" in pairs
    pairs.pop("SECRET_KEY")  # random per run in both
    assert pairs == {k: v for k, v in PRODUCTION_ENV.items() if k in pairs}
    assert set(pairs) >= {"DEBUG", "STAFF_REQUIRE_2FA", "SILENCED_SYSTEM_CHECKS"}


# --- E-mail: a frozen SMTP server cannot hang a request ------------------------------------------


def test_email_timeout_defaults_to_ten_seconds_and_comes_from_the_environment():
    code = "from django.conf import settings; print(settings.EMAIL_TIMEOUT)"
    for extra, expected in [({}, "10"), ({"EMAIL_TIMEOUT": "3"}, "3")]:
        env = {k: v for k, v in _settings_env(SECRET_KEY="x" * 50, **extra).items() if extra or k != "EMAIL_TIMEOUT"}
        assert _python_with_settings(code, env).strip().splitlines()[-1] == expected


@pytest.fixture
def frozen_smtp_server():
    """Accepts connections and never says a word (a hung mail server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_frozen_smtp_server_fails_the_send_within_email_timeout(settings, frozen_smtp_server):
    from django.core.mail import EmailMessage, get_connection

    assert 0 < settings.EMAIL_TIMEOUT <= 30
    settings.EMAIL_TIMEOUT = 1
    backend = get_connection(
        "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=frozen_smtp_server, use_tls=False
    )
    assert backend.timeout == 1  # the SMTP backend takes the setting
    started = time.monotonic()
    with pytest.raises(OSError):  # socket.timeout / TimeoutError
        EmailMessage("Hello", "Body", "from@example.com", ["to@example.com"], connection=backend).send()
    assert time.monotonic() - started < 5


# --- README: the configuration table documents exactly what the settings read -------------------


def _documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def _variables_read_by_settings() -> set[str]:
    source = (ROOT / "referral_portal" / "settings.py").read_text()
    return set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source)) | set(
        re.findall(r"os\.environ\.get\(\"([A-Z][A-Z0-9_]+)\"", source)
    )


def test_every_setting_read_from_the_environment_is_documented_and_every_documented_one_is_read():
    read = _variables_read_by_settings()
    procfile = (ROOT / "Procfile").read_text()
    used_by_procfile = {name for name in _documented_variables() if "${" + name in procfile}
    assert {"EMAIL_TIMEOUT", "DEBUG", "VAR_DIR"} <= read
    assert read - _documented_variables() == set(), "document these in README's configuration table"
    assert _documented_variables() - read - used_by_procfile == set(), "documented but never read"
    assert "REFERRAL_MONTHLY_LIMIT" not in read  # the limit lives on each Region (admin), not in the environment


@pytest.mark.parametrize(("given", "level"), [("40", 40), ("WARNING", 30), (None, 20)])
def test_celery_log_level_accepts_the_number_celery_exports_to_its_processes(given, level):
    """Celery sets CELERY_LOG_LEVEL="40" in its own environment; a process started from it must still configure."""
    env = _settings_env(DEBUG="1")
    env.pop("CELERY_LOG_LEVEL", None)
    if given is not None:
        env["CELERY_LOG_LEVEL"] = given
    out = _python_with_settings("import logging; print(logging.getLogger('celery').level)", env)
    assert out.strip() == str(level)
