"""What pages and rules read about members and regions."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import AccountDevice, Notification, PhoneVerification, Region, User
from lib import sqlonce

logger = logging.getLogger(__name__)


def _region(country: str) -> QuerySet[Region]:
    return Region.objects.filter(country=country).order_by("pk")


def region_for_country(country: str) -> Region:
    """The country's program settings, or the default region's for unlisted countries."""
    found = sqlonce.instances(_region, (country or "").upper(), limit=1)
    return found[0] if found else Region.objects.get(is_default=True)


def _pending_codes(member_id: int, now: datetime) -> QuerySet[PhoneVerification]:
    return PhoneVerification.objects.filter(user_id=member_id, used_at__isnull=True, expires_at__gt=now).order_by(
        "-created_at", "-pk"
    )


def pending_phone_code(*, member: User) -> PhoneVerification | None:
    """The phone code the member was sent last and may still enter (unused, not expired), if any."""
    found = sqlonce.instances(_pending_codes, member.pk, timezone.now(), limit=1)
    return found[0] if found else None


def profile_summary(*, member: User) -> dict:
    """What the profile and phone pages show besides the form: region, pending code, devices."""
    return {
        "region": region_for_country(str(member.country)),
        "pending_phone": pending_phone_code(member=member),
        "device_count": AccountDevice.objects.filter(user=member).count(),
    }


def notices_for_member(*, member: User) -> QuerySet[Notification]:
    """The member's notification centre, newest first (every notice, read or not)."""
    return Notification.objects.filter(user=member).only("id", "kind", "title", "body", "link", "created_at", "read_at")


def unread_notice_count(*, member: User) -> int:
    """How many of the member's notices are unread: the bell's number (one COUNT)."""
    return Notification.objects.filter(user=member, read_at__isnull=True).count()


# The bell in every page's header reads the count from the shared cache for this long: a new notice may show
# up to this late, marking notices read forgets it at once (`forget_unread_notice_count`).
UNREAD_COUNT_SECONDS = 30


def _unread_key(member_id: int) -> str:
    return f"notices:unread:v1:{member_id}"


def cached_unread_notice_count(*, member: User) -> int:
    """`unread_notice_count`, kept UNREAD_COUNT_SECONDS in the cache so most pages pay no query for the bell."""
    key = _unread_key(member.pk)
    try:
        count = cache.get(key)
    except Exception:  # the cache only speeds pages up (docs/program-rules.md G1)
        logger.warning("unread notice count: cache unavailable", exc_info=True)
        return unread_notice_count(member=member)
    if count is None:
        count = unread_notice_count(member=member)
        try:
            cache.set(key, count, timeout=UNREAD_COUNT_SECONDS)
        except Exception:
            logger.warning("unread notice count: cache unavailable", exc_info=True)
    return int(count)


def forget_unread_notice_count(*, member: User) -> None:
    try:
        cache.delete(_unread_key(member.pk))
    except Exception:
        logger.warning("unread notice count: cache unavailable", exc_info=True)
