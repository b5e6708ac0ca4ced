"""Configuration guarantees: SECRET_KEY, DEBUG default, persistent connections, Celery safety."""

import os
import subprocess
import sys
from pathlib import Path

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


def test_redis_broker_fails_fast_instead_of_hanging():
    env = _settings_env(SECRET_KEY="x" * 50, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    code = (
        "import django; django.setup(); from referral_portal.celery import app; "
        "o = app.conf.broker_transport_options; print(o['socket_timeout'], o['socket_connect_timeout'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "referral_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    socket_timeout, connect_timeout = (float(x) for x in result.stdout.split())
    assert 0 < socket_timeout <= 5
    assert 0 < connect_timeout <= 5


def test_beat_schedule_only_names_registered_tasks():
    from referral_portal.celery import app

    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks, entry["task"]


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
