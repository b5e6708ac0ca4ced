"""Write use cases for members."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User


@transaction.atomic
def register_member(*, email: str, password: str, first_name: str, last_name: str = "", country: str = "US") -> User:
    """Create a member account; the e-mail is unique (case-insensitive)."""
    return User.objects.create_user(
        email=email, password=password, first_name=first_name, last_name=last_name, country=country
    )


def purge_raw_ips(*, older_than_days: int | None = None) -> int:
    """Forget raw IPs older than the retention period (hashes and countries stay); returns rows purged."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from accounts.models import IPSighting

    days = settings.RAW_IP_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    # One UPDATE, not a loop: safe to run twice, and cheap when nothing is due.
    return IPSighting.objects.filter(seen_at__lt=cutoff, raw_ip__isnull=False).update(raw_ip=None)
