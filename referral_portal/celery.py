"""The Celery app. Tasks are thin adapters over services; see RELIABILITY.md.

Every periodic job sweeps state from the database (deadlines are stored as
`*_at` columns), so a lost message is healed by the next run of its sweep.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_portal.settings")

app = Celery("referral_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
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
}
