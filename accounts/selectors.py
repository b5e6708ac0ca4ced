"""What pages and rules read about members and regions."""

from __future__ import annotations

from accounts.models import Region


def region_for_country(country: str) -> Region:
    """The country's program settings, or the default region's for unlisted countries."""
    region = Region.objects.filter(country=(country or "").upper()).first()
    if region is None:
        region = Region.objects.get(is_default=True)
    return region


def profile_summary(*, user) -> dict:
    """What the profile and phone pages show besides the form: region, pending code, devices."""
    from django.utils import timezone

    from accounts.models import AccountDevice, PhoneVerification

    pending = (
        PhoneVerification.objects.filter(user=user, used_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-created_at", "-pk")
        .first()
    )
    return {
        "region": region_for_country(str(user.country)),
        "pending_phone": pending,
        "device_count": AccountDevice.objects.filter(user=user).count(),
    }


def linked_accounts(*, user) -> list:
    """Other accounts sharing a device or a payment card with `user` (one query, at most 100), by signal."""
    from django.db.models import Exists, OuterRef, Q

    from accounts.models import AccountDevice, User
    from orders.models import PaymentCard

    devices = AccountDevice.objects.filter(user=user).values("device_id")
    cards = PaymentCard.objects.filter(user=user).values("fingerprint")
    return list(
        User.objects.exclude(pk=user.pk)
        .annotate(
            shares_device=Exists(AccountDevice.objects.filter(user=OuterRef("pk"), device_id__in=devices)),
            shares_card=Exists(PaymentCard.objects.filter(user=OuterRef("pk"), fingerprint__in=cards)),
        )
        .filter(Q(shares_device=True) | Q(shares_card=True))
        .order_by("-date_joined")[:100]
    )
