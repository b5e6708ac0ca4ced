"""The facts the eligibility rules read (`referrals.eligibility`), gathered in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from accounts.identity import phone_country
from accounts.models import AccountDevice, Device, IPSighting, User
from accounts.selectors import region_for_country
from lib import sqlonce
from orders.models import Order, PaymentCard
from referrals.eligibility import AccountFacts, FirstOrderFacts, SignupFacts
from referrals.models import Referral
from referrals.program import IP_BURST_WINDOW, REFERRER_BURST_WINDOW
from referrals.reasons import ReasonCode, ReferralState

RECENT_SIGHTINGS = timedelta(days=30)


def program_participants() -> Q:
    """Filter on users: taking part in the program as friend or referrer of a referral not rejected."""
    live = Referral.objects.exclude(state=ReferralState.REJECTED)
    return Q(pk__in=live.values("friend_id")) | Q(pk__in=live.values("referrer_id"))


def _referrer_device_facts(*, referrer: User | None, friend: User, referrer_facts: AccountFacts | None) -> dict:
    """Whether the referrer takes part already; if not, the most program accounts on one of their devices."""
    if referrer is None or referrer_facts is None:
        return {}
    participants = User.objects.filter(program_participants())
    if participants.filter(pk=referrer.pk).exists():
        return {"referrer_takes_part": True}
    if not referrer_facts.device_hashes:
        return {"referrer_takes_part": False}
    per_device = (
        AccountDevice.objects.filter(device__id_hash__in=referrer_facts.device_hashes, user__in=participants)
        .exclude(user_id__in=[referrer.pk, friend.pk])
        .values("device_id")
        .annotate(accounts=Count("user_id", distinct=True))
        .values_list("accounts", flat=True)
    )
    return {"referrer_takes_part": False, "referrer_device_program_accounts": max(per_device, default=0)}


def signup_facts(
    *,
    friend: User,
    referrer: User | None,
    device_hash: str,
    ip_hash: str,
    ip_country: str,
    user_agent: str,
    arrived_at: datetime,
) -> SignupFacts:
    """Gather everything `referrals.eligibility.decide` needs about one sign-up (a fixed number of queries)."""

    def account(member: User) -> AccountFacts:
        devices = list(
            AccountDevice.objects.filter(user=member).values_list("device__id_hash", "device__fingerprint_hash")
        )
        return AccountFacts(
            user_id=member.pk,
            country=str(member.country),
            status=member.status,
            email_normalized=member.email_normalized,
            phone=member.phone,
            phone_verified=member.phone_verified_at is not None,
            region_in_program=region_for_country(str(member.country)).is_in_program,
            device_hashes=frozenset(id_hash for id_hash, _ in devices),
            fingerprint_hashes=frozenset(fingerprint for _, fingerprint in devices if fingerprint),
            card_fingerprints=frozenset(PaymentCard.objects.filter(user=member).values_list("fingerprint", flat=True)),
        )

    friend_facts = account(friend)
    referrer_facts = account(referrer) if referrer is not None else None
    others = User.objects.exclude(pk=friend.pk)
    if referrer is not None:
        # The referrer sharing a signal is SELF_REFERRAL, not ALREADY_REGISTERED.
        others = others.exclude(pk=referrer.pk)

    friend_phone_country = phone_country(friend.phone)

    on_device = User.objects.exclude(pk=friend.pk)
    participants = program_participants()
    since = timezone.now() - RECENT_SIGHTINGS
    referrer_sightings = (
        IPSighting.objects.filter(user=referrer, ip_hash=ip_hash, seen_at__gte=since)
        if referrer is not None and ip_hash
        else IPSighting.objects.none()
    )
    # The sign-up sighting (recorded just before, in the same transaction) wrote the browser's fingerprint
    # on the friend's Device row; "" when the browser sent none.
    fingerprint_hash = (
        (Device.objects.filter(id_hash=device_hash).values_list("fingerprint_hash", flat=True).first() or "")
        if device_hash
        else ""
    )
    return SignupFacts(
        friend=friend_facts,
        referrer=referrer_facts,
        device_hash=device_hash,
        fingerprint_hash=fingerprint_hash,
        ip_hash=ip_hash,
        ip_country=ip_country,
        user_agent=user_agent,
        phone_country=friend_phone_country,
        accounts_with_email=others.filter(email_normalized=friend.email_normalized).count(),
        accounts_with_phone=others.filter(phone=friend.phone).count() if friend.phone else 0,
        accounts_with_card=(
            others.filter(payment_cards__fingerprint__in=friend_facts.card_fingerprints).distinct().count()
            if friend_facts.card_fingerprints
            else 0
        ),
        device_non_program_accounts=(
            on_device.filter(
                account_devices__device__id_hash=device_hash, account_devices__first_seen_at__lt=arrived_at
            )
            .exclude(participants)
            .distinct()
            .count()
            if device_hash
            else 0
        ),
        device_program_accounts=(
            on_device.filter(participants, account_devices__device__id_hash=device_hash).distinct().count()
            if device_hash
            else 0
        ),
        **_referrer_device_facts(referrer=referrer, friend=friend, referrer_facts=referrer_facts),
        referrer_shares_ip=referrer_sightings.exists(),
        referrer_shares_ip_and_agent=bool(user_agent) and referrer_sightings.filter(user_agent=user_agent).exists(),
        ip_signups_last_day=(
            IPSighting.objects.filter(kind="signup", ip_hash=ip_hash, seen_at__gte=timezone.now() - IP_BURST_WINDOW)
            .exclude(user=None)
            .values("user")
            .distinct()
            .count()
            if ip_hash
            else 0
        ),
    )


# Enough account ids to explain a decision to staff; the decision needs only "any".
FIRST_ORDER_ACCOUNTS_SHOWN = 20
# A friend counts towards a referrer burst once their first order completed and the automatic path passed
# it (qualified, credited, capped), or while a burst of its own holds it for staff.
BURST_COUNTED = Q(state__in=[ReferralState.QUALIFIED, ReferralState.CREDITED, ReferralState.CAPPED]) | Q(
    state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.REFERRER_BURST
)


def _card_of_order(card_id: int):
    return PaymentCard.objects.filter(pk=card_id).values_list("fingerprint", "first_used_at")


def _card_holders(fingerprint: str, friend_id: int):
    """Every other holder of the same card; the friend's own row is the friend's."""
    return PaymentCard.objects.filter(fingerprint=fingerprint).exclude(user_id=friend_id)


def _card_used_by_referrer(fingerprint: str, friend_id: int, referrer_id: int):
    return _card_holders(fingerprint, friend_id).filter(user_id=referrer_id).values_list("pk")


def _card_accounts_on_referrer_devices(fingerprint: str, friend_id: int, referrer_id: int):
    referrer_devices = AccountDevice.objects.filter(user_id=referrer_id).values("device_id")
    on_referrer_devices = AccountDevice.objects.filter(device_id__in=referrer_devices).values("user_id")
    return (
        _card_holders(fingerprint, friend_id)
        .exclude(user_id=referrer_id)
        .filter(user_id__in=on_referrer_devices)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def _card_accounts_before_friend(fingerprint: str, friend_id: int, referrer_id: int, first_used_at: datetime):
    # Only accounts that had the card before the friend: an account that used it later is the
    # newcomer, not the friend (and one decision does not depend on which event arrived first).
    return (
        _card_holders(fingerprint, friend_id)
        .exclude(user_id=referrer_id)
        .filter(first_used_at__lt=first_used_at)
        .order_by("first_used_at", "user_id")
        .values_list("user_id", flat=True)
    )


def _referrer_qualified_nearby(referrer_id: int, after: datetime, before: datetime, referral_id: int):
    return (
        Referral.objects.filter(BURST_COUNTED, referrer_id=referrer_id, completed_at__gt=after, completed_at__lt=before)
        .exclude(pk=referral_id)
        .order_by("completed_at", "pk")
        .values_list("pk", "completed_at")
    )


def first_order_facts(*, referral: Referral, order: Order, completed_at: datetime | None = None) -> FirstOrderFacts:
    """Gather what `referrals.eligibility.decide_first_order` needs (at most five queries, each compiled to SQL
    once per connection: `lib.sqlonce`; every order event of a first order runs them).

    `completed_at` is given when the first order completed: the referrer's other qualified
    friends within REFERRER_BURST_WINDOW of it are read then (the caller holds the referrer's lock).
    """
    shown = FIRST_ORDER_ACCOUNTS_SHOWN
    card_facts: dict = {}
    card: tuple | None = None
    if order.card_id:
        if Order.card.is_cached(order) and order.card is not None:
            card = (order.card.fingerprint, order.card.first_used_at)
        else:
            found = sqlonce.rows(_card_of_order, order.card_id)
            card = found[0] if found else None
    if card is not None:
        fingerprint, first_used_at = card
        people = (fingerprint, referral.friend_id, referral.referrer_id)
        card_facts = {
            "card_fingerprint": fingerprint,
            "card_used_by_referrer": bool(sqlonce.rows(_card_used_by_referrer, *people, limit=1)),
            "card_accounts_on_referrer_devices": tuple(
                user_id for (user_id,) in sqlonce.rows(_card_accounts_on_referrer_devices, *people, limit=shown)
            ),
            "card_accounts_before_friend": tuple(
                user_id
                for (user_id,) in sqlonce.rows(_card_accounts_before_friend, *people, first_used_at, limit=shown)
            ),
        }
    nearby: tuple = ()
    if completed_at is not None:
        nearby = tuple(
            sqlonce.rows(
                _referrer_qualified_nearby,
                referral.referrer_id,
                completed_at - REFERRER_BURST_WINDOW,
                completed_at + REFERRER_BURST_WINDOW,
                referral.pk,
            )
        )
    return FirstOrderFacts(
        order=order.external_id, completed_at=completed_at, referrer_qualified_nearby=nearby, **card_facts
    )
