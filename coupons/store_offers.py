"""Store offers: who may collect a store's coupon (the rule the page and the service share) and what the store
page shows of them (docs/program-rules.md section 4, store coupons)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import User
from coupons.models import StoreOffer, StoreOfferAudience, StoreOfferClaim
from lib.errors import DomainError
from orders import selectors as orders_selectors
from orders.models import Store


class StoreOfferError(DomainError):
    """The member cannot collect this store coupon (the message says why)."""

    code = "STORE_OFFER_REFUSED"


def offer_refusal(
    *,
    offer: StoreOffer,
    member: User,
    at: datetime,
    claimed: bool,
    following: bool | None = None,
    bought: bool | None = None,
) -> StoreOfferError | None:
    """Why `member` cannot collect `offer` now, or None: the one rule the page and the service share.

    `following` / `bought` (from this store before) are looked up when not given."""
    if claimed:
        return StoreOfferError(_("You have already collected this coupon."), code="ALREADY_COLLECTED")
    if not offer.is_active or offer.starts_at > at or (offer.ends_at is not None and at >= offer.ends_at):
        return StoreOfferError(_("This offer is not available now."), code="OFFER_CLOSED")
    if offer.total_limit is not None and offer.collected_count >= offer.total_limit:
        return StoreOfferError(_("All coupons of this offer have been collected."), code="ALL_COLLECTED")
    if offer.audience == StoreOfferAudience.FOLLOWERS and not (
        following if following is not None else orders_selectors.is_following(member=member, store=offer.store)
    ):
        return StoreOfferError(_("Follow the store to collect this coupon."), code="NOT_FOLLOWING")
    if offer.audience == StoreOfferAudience.FIRST_BUYERS and (
        bought if bought is not None else orders_selectors.has_bought_from(member=member, store=offer.store)
    ):
        return StoreOfferError(
            _("This coupon is for members who have not bought from this store yet."), code="NOT_FIRST_BUYER"
        )
    return None


@dataclass(frozen=True)
class OfferCard:
    """One offer on the store page: the offer, whether this member collected it, and why not if they cannot."""

    offer: StoreOffer
    collected: bool
    refusal_code: str
    refusal: str

    @property
    def can_collect(self) -> bool:
        return not self.collected and not self.refusal_code


def offers_for_store_page(*, store: Store, member: User | None, at: datetime) -> list[OfferCard]:
    """The store's current offers (active, started, not ended), each with this member's standing (four queries)."""
    offers = list(
        StoreOffer.objects.filter(store=store, is_active=True, starts_at__lte=at)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .select_related("store")
        .order_by("audience", "value", "pk")
    )
    if member is None or not member.is_authenticated:
        return [OfferCard(offer=o, collected=False, refusal_code="LOGIN", refusal="") for o in offers]
    claimed = set(StoreOfferClaim.objects.filter(member=member, offer__in=offers).values_list("offer_id", flat=True))
    following = orders_selectors.is_following(member=member, store=store)
    bought = orders_selectors.has_bought_from(member=member, store=store)
    cards = []
    for offer in offers:
        refusal = offer_refusal(
            offer=offer, member=member, at=at, claimed=offer.pk in claimed, following=following, bought=bought
        )
        cards.append(
            OfferCard(
                offer=offer,
                collected=offer.pk in claimed,
                refusal_code=refusal.code if refusal and offer.pk not in claimed else "",
                refusal=refusal.message if refusal and offer.pk not in claimed else "",
            )
        )
    return cards
