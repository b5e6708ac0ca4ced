"""Where a member acts from: the device (keyed hash of its first-party cookie id) and IP sightings.

Takes a `lib.client.ClientInfo`, never a request: the view builds it (docs/architecture.md).
"""

from __future__ import annotations

from django.utils import timezone

from accounts.identity import ip_country, keyed_hash
from accounts.models import AccountDevice, Device, IPSighting, User
from lib.client import ClientInfo


def device_for(client: ClientInfo) -> Device:
    """The Device row of this browser (by the keyed hash of its cookie id), created on first use."""
    id_hash = keyed_hash(client.device_id, purpose="device")
    fingerprint_hash = keyed_hash(client.fingerprint, purpose="fingerprint") if client.fingerprint else ""
    device, created = Device.objects.get_or_create(
        id_hash=id_hash, defaults={"user_agent": client.user_agent[:300], "fingerprint_hash": fingerprint_hash}
    )
    if not created:
        updates: dict[str, object] = {"last_seen_at": timezone.now()}
        if fingerprint_hash and device.fingerprint_hash != fingerprint_hash:
            updates["fingerprint_hash"] = fingerprint_hash
        Device.objects.filter(pk=device.pk).update(**updates)
    return device


def record_sighting(*, client: ClientInfo, kind: str, member: User | None = None) -> tuple[Device, IPSighting]:
    """Record that `member` (or an anonymous visitor) did `kind` from this device and IP."""
    device = device_for(client)
    ip = client.ip
    sighting = IPSighting.objects.create(
        user=member,
        kind=kind,
        ip_hash=keyed_hash(ip, purpose="ip") if ip else "",
        ip_country=ip_country(ip) if ip else "",
        raw_ip=ip or None,
        user_agent=client.user_agent[:300],
    )
    if member is not None:
        now = timezone.now()
        link, created = AccountDevice.objects.get_or_create(
            user=member, device=device, defaults={"first_event": kind, "first_seen_at": now, "last_seen_at": now}
        )
        if not created:
            AccountDevice.objects.filter(pk=link.pk).update(last_seen_at=now)
    return device, sighting
