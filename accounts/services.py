"""Write use cases for members."""

from __future__ import annotations

from django.db import transaction

from accounts.models import AccountDevice, Device, IPSighting, User


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


def device_for_request(request, *, fingerprint: str = "") -> Device:
    """The Device row of this browser (by the keyed hash of its cookie id), created on first use."""
    from django.utils import timezone

    from accounts.identity import keyed_hash

    device_id = getattr(request, "device_id", None) or ""
    id_hash = keyed_hash(device_id, purpose="device")
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    fingerprint_hash = keyed_hash(fingerprint, purpose="fingerprint") if fingerprint else ""
    device, created = Device.objects.get_or_create(
        id_hash=id_hash, defaults={"user_agent": user_agent, "fingerprint_hash": fingerprint_hash}
    )
    if not created:
        updates = {"last_seen_at": timezone.now()}
        if fingerprint_hash and device.fingerprint_hash != fingerprint_hash:
            updates["fingerprint_hash"] = fingerprint_hash
        Device.objects.filter(pk=device.pk).update(**updates)
    return device


def record_sighting(*, request, kind: str, user=None, fingerprint: str = "") -> tuple[Device, IPSighting]:
    """Record that `user` (or an anonymous visitor) did `kind` from this device and IP."""
    from django.utils import timezone

    from accounts.identity import ip_country, keyed_hash
    from accounts.requestinfo import client_ip

    device = device_for_request(request, fingerprint=fingerprint)
    ip = client_ip(request)
    sighting = IPSighting.objects.create(
        user=user,
        kind=kind,
        ip_hash=keyed_hash(ip, purpose="ip") if ip else "",
        ip_country=ip_country(ip) if ip else "",
        raw_ip=ip or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )
    if user is not None:
        now = timezone.now()
        link, created = AccountDevice.objects.get_or_create(
            user=user, device=device, defaults={"first_event": kind, "first_seen_at": now, "last_seen_at": now}
        )
        if not created:
            AccountDevice.objects.filter(pk=link.pk).update(last_seen_at=now)
    return device, sighting
