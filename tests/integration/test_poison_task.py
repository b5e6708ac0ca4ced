"""A task that kills its worker process every time is parked after 3 deliveries instead of looping forever:
a real prefork worker (a subprocess) on a redis-server of the test's own, on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.db import connection

from ops.models import TaskDelivery
from ops.services.deliveries import MAX_DELIVERIES

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]

# The worker process registers one task that stops its own pool process (SIGKILL) on every run.
WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    from referral_portal.celery import app

    @app.task(name="tests.poison", acks_late=True)
    def poison(marker):
        with open(marker, "a") as runs:
            runs.write("run\\n")
        os.kill(os.getpid(), signal.SIGKILL)

    app.worker_main(["worker", "--pool", "prefork", "--concurrency", "1", "--loglevel", "WARNING",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"])
    """
)


def test_a_task_that_keeps_killing_its_worker_is_parked_after_three_deliveries(redis_process, tmp_path):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "referral_portal.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": redis_process.url(1),
        "VAR_DIR": str(tmp_path),
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    marker = tmp_path / "runs.txt"
    publisher = textwrap.dedent(
        f"""
        import django
        django.setup()
        from referral_portal.celery import app
        app.send_task("tests.poison", args=[{str(marker)!r}], task_id="poison-1")
        """
    )
    subprocess.run([sys.executable, "-c", publisher], cwd=ROOT, env=env, check=True, timeout=60)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        parked = None
        while time.monotonic() < deadline:
            parked = TaskDelivery.objects.filter(task_id="poison-1", parked_at__isnull=False).first()
            if parked is not None:
                break
            time.sleep(0.5)
        time.sleep(2)  # had it not been parked, a 5th run would come now
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
    stderr = worker.stderr.read().decode() if worker.stderr else ""
    assert parked is not None, stderr[-3000:]
    assert marker.read_text().count("run") == MAX_DELIVERIES  # ran 3 times, the 4th delivery was parked
    assert (parked.task_name, parked.args, parked.deliveries) == ("tests.poison", [str(marker)], MAX_DELIVERIES + 1)
