from __future__ import annotations

from celery import shared_task

from accounts import services


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def purge_raw_ips() -> int:
    return services.purge_raw_ips()


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def recompute_due_levels() -> int:
    from accounts import levels

    return levels.recompute_due_levels()


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def issue_anniversary_coupons() -> int:
    from accounts import levels

    return levels.issue_anniversary_coupons()
