"""What pages and rules read about members and regions."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import AccountDevice, PhoneVerification, Region, User


def region_for_country(country: str) -> Region:
    """The country's program settings, or the default region's for unlisted countries."""
    region = Region.objects.filter(country=(country or "").upper()).first()
    if region is None:
        region = Region.objects.get(is_default=True)
    return region


def profile_summary(*, member: User) -> dict:
    """What the profile and phone pages show besides the form: region, pending code, devices."""
    pending = (
        PhoneVerification.objects.filter(user=member, used_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-created_at", "-pk")
        .first()
    )
    return {
        "region": region_for_country(str(member.country)),
        "pending_phone": pending,
        "device_count": AccountDevice.objects.filter(user=member).count(),
    }
