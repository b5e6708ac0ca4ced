"""Outbound referral events: turning timeline rows into events and deliveries, delivering what is due with
exponential backoff, and staff re-sends (docs/outbound-events.md).

Nothing here runs inside crediting: the change's timeline row is its event record (written in the change's own
transaction); `fan_out` and `deliver_due` run from a beat task, so a receiver that is down or slow costs the
program nothing but a later delivery. Each HTTP attempt runs outside any transaction, on a delivery claimed by a
short lease (`FOR UPDATE SKIP LOCKED`), so two workers never send the same attempt and no lock waits on a network.
"""

from __future__ import annotations

import json
import logging
import secrets as token_source
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from coupons.models import Coupon
from lib.errors import DomainError
from outbound.events import EVENT_STATES, event_payload, event_types_for
from outbound.models import Delivery, DeliveryAttempt, DeliveryStatus, Endpoint, FanoutCursor, OutboundEvent
from outbound.transport import PostResult, post_event
from referrals.models import ReferralEvent

logger = logging.getLogger(__name__)

# A change commits within its task's time limit; rows dated this far before the cursor are looked at again.
FANOUT_OVERLAP = timedelta(minutes=10)
# A delivery being attempted is leased this long: a worker that died mid-attempt frees it for the next run.
ATTEMPT_LEASE = timedelta(minutes=2)
CURSOR = "referral-timeline"


class DeliveryError(DomainError):
    code = "DELIVERY_REFUSED"


def new_secret() -> str:
    return f"whsec_{token_source.token_hex(24)}"


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed attempt: base × 2^(attempts−1), at most 6 hours."""
    base = settings.OUTBOUND_EVENTS_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


# --- Fan-out: timeline rows → events → deliveries ---------------------------------------------------------------


@transaction.atomic
def fan_out(*, batch: int = 500, now: datetime | None = None) -> int:
    """Turn new timeline rows into events and a delivery per active endpoint that wants them; returns the number
    of events made. Idempotent (unique source and type; unique endpoint and event)."""
    now = now or timezone.now()
    cursor, _ = FanoutCursor.objects.select_for_update().get_or_create(name=CURSOR, defaults={"recorded_until": now})
    endpoints = list(Endpoint.objects.filter(is_active=True))
    if not endpoints:
        FanoutCursor.objects.filter(pk=cursor.pk).update(recorded_until=now)  # nobody listens: nothing to send
        return 0
    since = max(cursor.recorded_until - FANOUT_OVERLAP, min(e.created_at for e in endpoints))
    rows = list(
        ReferralEvent.objects.filter(recorded_at__gte=since, recorded_at__lte=now)
        .filter(Q(from_state="") | Q(to_state__in=EVENT_STATES))
        .exclude(pk__in=OutboundEvent.objects.filter(source__recorded_at__gte=since).values("source_id"))
        .select_related("referral")
        .order_by("recorded_at", "pk")[:batch]
    )
    made = 0
    for row in rows:
        for event_type in event_types_for(from_state=row.from_state, to_state=row.to_state):
            event = _make_event(row=row, event_type=event_type, now=now)
            wanted = [e for e in endpoints if event_type in (e.event_types or []) and e.created_at <= row.recorded_at]
            Delivery.objects.bulk_create(
                [Delivery(endpoint=e, event=event, next_attempt_at=now, created_at=now) for e in wanted],
                ignore_conflicts=True,
            )
            made += 1
    until = rows[-1].recorded_at if len(rows) == batch else now
    FanoutCursor.objects.filter(pk=cursor.pk).update(recorded_until=max(until, cursor.recorded_until))
    return made


def _make_event(*, row: ReferralEvent, event_type: str, now: datetime) -> OutboundEvent:
    referral = row.referral
    event = OutboundEvent.objects.create(
        source=row, referral=referral, type=event_type, occurred_at=row.occurred_at, payload={}, created_at=now
    )
    reward = None
    if event_type == "referral.credited":
        coupon = Coupon.objects.filter(referral_id=referral.pk).values_list("pk", "value", "currency").first()
        reward = coupon if coupon is not None else None
    event.payload = event_payload(
        event_id=event.pk,
        event_type=event_type,
        occurred_at=row.occurred_at,
        created_at=now,
        referral_id=referral.pk,
        referrer_id=referral.referrer_id,
        friend_id=referral.friend_id,
        state=row.to_state,
        reason_code=row.reason_code,
        channel=referral.channel,
        reward=reward,
    )
    OutboundEvent.objects.filter(pk=event.pk).update(payload=event.payload)
    return event


# --- Delivering -----------------------------------------------------------------------------------------------


@dataclass
class DeliveryRun:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0


def _claim_one(now: datetime) -> Delivery | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now + ATTEMPT_LEASE)
        return delivery


def attempt(delivery: Delivery) -> PostResult:
    """One HTTP attempt of `delivery` (outside any transaction), then its outcome: delivered, retried later with
    backoff, or given up after the last attempt. Each attempt writes a log row."""
    endpoint, event = delivery.endpoint, delivery.event
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
    result = post_event(
        url=endpoint.url,
        body=body,
        secrets=[endpoint.secret, endpoint.previous_secret],
        event_id=f"evt_{event.pk}",
        event_type=event.type,
        timeout=settings.OUTBOUND_EVENTS_TIMEOUT_SECONDS,
    )
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields: dict = {"attempts": attempts, "last_attempt_at": now, "last_status_code": result.status_code}
    if result.ok:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None, last_error="")
    elif attempts >= settings.OUTBOUND_EVENTS_MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=result.error)
    else:
        fields.update(next_attempt_at=now + retry_delay(attempts), last_error=result.error)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(**fields)
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    for name, value in fields.items():
        setattr(delivery, name, value)
    if not result.ok:
        logger.info("delivery %s to %s failed (attempt %s): %s", delivery.pk, endpoint.url, attempts, result.error)
    return result


def deliver_due(*, budget_seconds: float = 40.0, now: datetime | None = None) -> DeliveryRun:
    """Attempt every due delivery, one claimed at a time, until none is due or the time budget is spent."""
    run = DeliveryRun()
    started = time.monotonic()
    while time.monotonic() - started < budget_seconds:
        delivery = _claim_one(now or timezone.now())
        if delivery is None:
            break
        result = attempt(delivery)
        if result.ok:
            run.delivered += 1
        elif delivery.status == DeliveryStatus.FAILED:
            run.gave_up += 1
        else:
            run.failed += 1
    return run


@transaction.atomic
def resend(*, delivery: Delivery, actor: User) -> Delivery:
    """Staff re-send: the delivery is due again now, with a fresh run of attempts (the audit row is the caller's)."""
    if not delivery.endpoint.is_active:
        raise DeliveryError(
            _("The endpoint is switched off; switch it on before re-sending."), code="ENDPOINT_INACTIVE"
        )
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, delivered_at=None
    )
    delivery.refresh_from_db()
    logger.info("delivery %s re-sent by staff %s", delivery.pk, actor.pk)
    return delivery


@transaction.atomic
def rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    """A new signing secret; the old one still signs until the next rotation, so receivers can switch over."""
    Endpoint.objects.filter(pk=endpoint.pk).update(previous_secret=endpoint.secret, secret=new_secret())
    endpoint.refresh_from_db()
    return endpoint


def check_endpoint_url(url: str) -> None:
    """An endpoint receives over HTTPS; plain HTTP only to the hosts of OUTBOUND_EVENTS_HTTP_HOSTS (local)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in settings.OUTBOUND_EVENTS_HTTP_HOSTS:
        return
    raise DeliveryError(_("Use an https:// address."), code="ENDPOINT_NOT_HTTPS")
