from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import tasks
from accounts.models import IPSighting
from accounts.services import purge_raw_ips

pytestmark = pytest.mark.django_db


def sighting_at(when) -> IPSighting:
    return IPSighting.objects.create(kind="login", ip_hash="h", ip_country="US", raw_ip="8.8.8.8", seen_at=when)


def test_raw_ips_are_kept_29_days_and_purged_after_31_keeping_hash_and_country():
    with time_machine.travel("2026-03-31 12:00:00Z", tick=False):
        now = timezone.now()
        young = sighting_at(now - timedelta(days=29))
        old = sighting_at(now - timedelta(days=31))
        assert purge_raw_ips() == 1
    young.refresh_from_db()
    old.refresh_from_db()
    assert young.raw_ip == "8.8.8.8"
    assert old.raw_ip is None
    assert (old.ip_hash, old.ip_country) == ("h", "US")


def test_the_same_row_is_purged_once_it_crosses_the_edge():
    with time_machine.travel("2026-03-01 12:00:00Z", tick=False) as clock:
        row = sighting_at(timezone.now())
        clock.shift(timedelta(days=29))
        assert tasks.purge_raw_ips() == 0
        clock.shift(timedelta(days=2))
        assert tasks.purge_raw_ips() == 1
        assert tasks.purge_raw_ips() == 0  # safe to run twice
    row.refresh_from_db()
    assert row.raw_ip is None


def test_axes_login_logs_follow_the_same_retention():
    from axes.models import AccessLog

    with time_machine.travel("2026-03-31 12:00:00Z", tick=False):
        now = timezone.now()
        for username, age in [("a@example.com", 31), ("b@example.com", 29)]:
            log = AccessLog.objects.create(ip_address="8.8.8.8", username=username)
            AccessLog.objects.filter(pk=log.pk).update(attempt_time=now - timedelta(days=age))  # auto_now_add
        purge_raw_ips()
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["b@example.com"]
