"""The Celery app. Tasks are thin adapters over services (docs/program-rules.md, guarantee G1).

Every periodic job sweeps state from the database (deadlines are stored as
`*_at` columns), so a lost message is healed by the next run of its sweep.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_portal.settings")

# PortalTask (ops/tasks.py): parks a task redelivered past 3 deliveries and times the periodic jobs.
app = Celery("referral_portal", task_cls="ops.tasks:PortalTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _dispatch_outbox_inline(**kwargs) -> None:
    """A worker process dispatches the outbox rows its tasks write right after commit, in the task's own
    thread (no dispatcher thread inside a pool process); the relay covers the rest."""
    from ops import dispatcher

    dispatcher.use("inline")


@task_prerun.connect
@task_postrun.connect
def _retire_unusable_connections(task=None, **_kwargs) -> None:
    """What Django does around each request, around each task: a connection is kept across tasks
    (CELERY_DB_REUSE_MAX stops Celery's fixup from closing it every time) until it errs or passes CONN_MAX_AGE;
    CONN_HEALTH_CHECKS then tests it before its next use. Eager calls (tests) run inside the caller's transaction."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections  # imported once Django is set up

    close_old_connections()


# One entry per periodic job.
app.conf.beat_schedule = {
    # The outbox (docs/deployment.md): work recorded with a commit and not dispatched yet (a broker outage,
    # a process that died after commit). Every 10 s, so a backlog drains soon after Redis answers again;
    # web processes also relay it themselves every OUTBOX_POLL_SECONDS.
    "relay-outbox": {
        "task": "ops.tasks.relay_outbox",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    # Dispatched outbox rows are kept a week (staff can see what was sent), then deleted.
    "prune-outbox": {
        "task": "ops.tasks.prune_outbox",
        "schedule": crontab(hour=4, minute=10),
    },
    # Raw IPs are kept only for the retention period (RAW_IP_RETENTION_DAYS).
    "purge-raw-ips": {
        "task": "accounts.tasks.purge_raw_ips",
        "schedule": crontab(hour=3, minute=0),
    },
    # Member points age out 12 months after each completed order (User.points_expire_at).
    "recompute-due-levels": {
        "task": "accounts.tasks.recompute_due_levels",
        "schedule": crontab(minute=15),
    },
    # Gold and above: one anniversary coupon per member per year (7-day catch-up window).
    "issue-anniversary-coupons": {
        "task": "accounts.tasks.issue_anniversary_coupons",
        "schedule": crontab(hour=9, minute=0),
    },
    # Crediting (docs/program-rules.md, guarantee G1): the sweep is what keeps the 24-hour promise when a message,
    # a worker or Redis is lost; the task enqueued at completion is only the fast path.
    "credit-due-referrals": {
        "task": "referrals.tasks.credit_due_referrals",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "flag-delayed-referrals": {
        "task": "referrals.tasks.flag_delayed_referrals",
        "schedule": crontab(minute="*/10"),
    },
    "reconcile-rewards": {
        "task": "referrals.tasks.reconcile_rewards",
        "schedule": crontab(hour=2, minute=30),
    },
    # Outbound referral events (docs/outbound-events.md): new timeline rows become deliveries, due ones are sent.
    "dispatch-outbound-events": {
        "task": "outbound.tasks.dispatch_outbound_events",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "expire-overdue-coupons": {
        "task": "coupons.tasks.expire_overdue_coupons",
        "schedule": crontab(minute="*/5"),
    },
    # Click growth (docs/performance.md): clicks are counted into ClickTally behind a watermark (so the funnel reads
    # only the last minutes raw), and old raw clicks already counted are deleted, in batches.
    "roll-up-clicks": {
        "task": "referrals.tasks.roll_up_clicks",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    "prune-clicks": {
        "task": "referrals.tasks.prune_clicks",
        "schedule": crontab(hour=4, minute=10),
    },
    # Kept referral counts (docs/performance.md): the triggers' delta rows folded into one row per group, so
    # Invite Friends sums a few rows per referrer.
    "compact-referral-tallies": {
        "task": "referrals.tasks.compact_referral_tallies",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "send-expiry-reminders": {
        "task": "coupons.tasks.send_expiry_reminders",
        "schedule": crontab(minute=15),
    },
}
