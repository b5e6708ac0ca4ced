"""Event campaigns (e.g. 11.11): platform-wide coupons members collect while the event runs.

An event is a `Campaign` of kind platform with no promo code and no store.
For events, `used_count` counts collected coupons and `usage_limit` caps them
(promo codes use the same columns for redemptions at checkout).

Guarantees of `collect_event_coupon`:
- only while the event runs (`is_active`, `starts_at <= at < ends_at`);
- at most `per_member_limit` coupons per member (the member's row lock orders
  a member's own double clicks; the ledger key backs it in the database);
- at most `usage_limit` coupons in total, under any concurrency: the slot is
  taken by a conditional `UPDATE … SET used_count = used_count + 1 WHERE
  used_count < usage_limit` in the same transaction as the coupon.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import region_for_country
from coupons.models import Campaign, Coupon, CouponKind, CouponSource
from coupons.services.issuing import issue_coupon
from lib.errors import DomainError


class EventCouponError(DomainError):
    """A refused collection; `message` is for the member."""

    code = "EVENT_REFUSED"

    def __init__(self, code: str, message: str, *, coupon: Coupon | None = None) -> None:
        super().__init__(message, code=code)
        self.coupon = coupon


NOT_AN_EVENT = "NOT_AN_EVENT"
NOT_STARTED = "EVENT_NOT_STARTED"
ENDED = "EVENT_ENDED"
SOLD_OUT = "EVENT_SOLD_OUT"
ALREADY_COLLECTED = "ALREADY_COLLECTED"
WRONG_CURRENCY = "EVENT_WRONG_CURRENCY"


def _sold_out(event: str) -> str:
    return _("All %(event)s coupons have been collected. Watch for the next event!") % {"event": event}


def events() -> QuerySet[Campaign]:
    """Campaigns that are events (platform coupons to collect, not promo codes or store campaigns)."""
    return Campaign.objects.filter(kind=CouponKind.PLATFORM, store__isnull=True).filter(
        Q(code__isnull=True) | Q(code="")
    )


def running(*, at: datetime) -> Q:
    return Q(is_active=True, starts_at__lte=at) & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))


def active_events(*, at: datetime | None = None) -> QuerySet[Campaign]:
    """Events running at `at`, ending soonest first (sold-out ones included: the page says so)."""
    at = at or timezone.now()
    return events().filter(running(at=at)).order_by(F("ends_at").asc(nulls_last=True), "id")


def why_not_running(campaign: Campaign, *, at: datetime) -> EventCouponError | None:
    """The reason a member can't collect from this campaign now, as a plain decision (None: it runs)."""
    if campaign.kind != CouponKind.PLATFORM or campaign.code or campaign.store_id:
        return EventCouponError(NOT_AN_EVENT, _("This offer is not an event coupon."))
    if not campaign.is_active or (campaign.ends_at is not None and at >= campaign.ends_at):
        return EventCouponError(ENDED, _("The %(event)s event has ended.") % {"event": campaign.name})
    if at < campaign.starts_at:
        return EventCouponError(NOT_STARTED, _("The %(event)s event has not started yet.") % {"event": campaign.name})
    if campaign.usage_limit is not None and campaign.used_count >= campaign.usage_limit:
        return EventCouponError(SOLD_OUT, _sold_out(campaign.name))
    return None


@transaction.atomic
def collect_event_coupon(*, member: User, campaign: Campaign, at: datetime | None = None) -> Coupon:
    """Give the member one of the event's coupons: only while it runs, within the per-member and total limits.

    Raises EventCouponError (ALREADY_COLLECTED carries the member's latest coupon of this event).
    """
    at = at or timezone.now()
    # 1. The member's row lock: a double click waits here, then sees the first coupon.
    locked = User.objects.select_for_update().get(pk=member.pk)
    campaign.refresh_from_db()
    refusal = why_not_running(campaign, at=at)
    if refusal is not None and refusal.code != SOLD_OUT:
        raise refusal
    # 2. Per-member limit.
    mine = Coupon.objects.filter(owner=locked, campaign=campaign).order_by("-issued_at", "-id")
    collected = mine.count()
    if collected >= campaign.per_member_limit:
        raise EventCouponError(
            ALREADY_COLLECTED, _("You have already collected this coupon: it is in My Coupons."), coupon=mine.first()
        )
    if refusal is not None:
        raise refusal
    region_currency = region_for_country(str(locked.country)).currency
    if region_currency != campaign.currency:
        raise EventCouponError(
            WRONG_CURRENCY, _("The %(event)s event is not available in your region.") % {"event": campaign.name}
        )
    # 3. Total limit: take a slot with a conditional UPDATE (the row is re-checked under its lock).
    slot = (
        Campaign.objects.filter(pk=campaign.pk)
        .filter(running(at=at))
        .filter(Q(usage_limit__isnull=True) | Q(used_count__lt=F("usage_limit")))
        .update(used_count=F("used_count") + 1)
    )
    if not slot:
        campaign.refresh_from_db()
        raise why_not_running(campaign, at=at) or EventCouponError(SOLD_OUT, _sold_out(campaign.name))
    # 4. The coupon and its ledger row; the key (member, event, n-th coupon) is unique in the ledger.
    return issue_coupon(
        member=locked,
        source=CouponSource.EVENT,
        kind=CouponKind.PLATFORM,
        value=campaign.value,
        min_spend=campaign.min_spend,
        currency=campaign.currency,
        valid_days=campaign.valid_days,
        idempotency_key=f"event:{campaign.pk}:{locked.pk}:{collected + 1}",
        reason=f"Collected at the {campaign.name} event",
        title=campaign.name,
        campaign=campaign,
        issued_at=at,
    )
