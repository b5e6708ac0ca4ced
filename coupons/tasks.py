"""Celery adapters for wallet housekeeping: each is one service call, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from coupons import anniversary, services


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def expire_overdue_coupons() -> int:
    return services.expire_overdue_coupons()


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def send_expiry_reminders() -> int:
    return services.send_expiry_reminders()


# Issuing moved here from accounts; the task keeps its first name: the beat schedule and queued messages use it.
@shared_task(name="accounts.tasks.issue_anniversary_coupons", acks_late=True, soft_time_limit=50, time_limit=60)
def issue_anniversary_coupons() -> int:
    return anniversary.issue_anniversary_coupons()
