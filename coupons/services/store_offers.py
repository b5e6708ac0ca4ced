"""Store coupons collected from a store's page ("Get coupons"): once per member, within the offer's limits.

Race-safe the way promo codes are (docs/program-rules.md G2): the offer's counter is raised by a conditional
UPDATE (collected < limit), and the claim's unique (offer, member) pair makes a double click one coupon; both
in one savepoint with the coupon and its ledger row, so a refused claim leaves nothing behind.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from coupons.models import Coupon, CouponKind, CouponSource, StoreOffer, StoreOfferClaim
from coupons.services.issuing import issue_coupon
from coupons.store_offers import StoreOfferError, offer_refusal


def claim_key(offer_id: int, member_id: int) -> str:
    return f"store-offer:{offer_id}:{member_id}"


@transaction.atomic
def collect_store_offer(*, member: User, offer_id: int, store_id: int | None = None) -> Coupon:
    """Collect one store coupon: at most once per member and never more than the offer's total limit."""
    now = timezone.now()
    offers = StoreOffer.objects.select_related("store").filter(pk=offer_id)
    if store_id is not None:  # collected from a store's page: only that store's offers
        offers = offers.filter(store_id=store_id)
    offer = offers.first()
    if offer is None:
        raise StoreOfferError(_("This offer is not available now."), code="OFFER_CLOSED")
    claimed = StoreOfferClaim.objects.filter(offer=offer, member=member).exists()
    refusal = offer_refusal(offer=offer, member=member, at=now, claimed=claimed)
    if refusal is not None:
        raise refusal
    try:
        with transaction.atomic():
            took = (
                StoreOffer.objects.filter(pk=offer.pk)
                .filter(Q(total_limit__isnull=True) | Q(collected_count__lt=F("total_limit")))
                .update(collected_count=F("collected_count") + 1)
            )
            if not took:
                raise StoreOfferError(_("All coupons of this offer have been collected."), code="ALL_COLLECTED")
            coupon = issue_coupon(
                member=member,
                kind=CouponKind.STORE,
                source=CouponSource.STORE,
                store=offer.store,
                value=offer.value,
                min_spend=offer.min_spend,
                currency=offer.currency,
                valid_days=offer.valid_days,
                issued_at=now,
                title=_("%(store)s store coupon") % {"store": offer.store.name},
                idempotency_key=claim_key(offer.pk, member.pk),
                reason=f"Store coupon collected from {offer.store.name} (offer {offer.pk})",
            )
            StoreOfferClaim.objects.create(offer=offer, member=member, coupon=coupon, claimed_at=now)
    except IntegrityError:
        # A second click of the same member won the unique pair first: its coupon is the one.
        raise StoreOfferError(_("You have already collected this coupon."), code="ALREADY_COLLECTED") from None
    return coupon
