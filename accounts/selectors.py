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


def rewards_page(*, user, at=None) -> dict:
    """What the Rewards page shows: level standing, coins and check-in, coin offers, running events, coin history."""
    import uuid
    from datetime import timedelta

    from django.db.models import Count, Q
    from django.utils import timezone

    from accounts import coins, levels
    from accounts.models import CheckIn, CoinLedger
    from coupons import events

    at = at or timezone.now()
    today = coins.local_day(user=user, at=at)
    last = CheckIn.objects.filter(user=user).order_by("-day").first()
    checked_in_today = last is not None and last.day >= today
    streak_alive = last is not None and last.day >= today - timedelta(days=1)
    streak = last.streak if streak_alive else 0
    next_streak = streak if checked_in_today else streak + 1
    running = list(events.active_events(at=at).annotate(mine=Count("coupons", filter=Q(coupons__owner=user))))
    for event in running:
        event.collected_all = event.mine >= event.per_member_limit
        event.sold_out = event.usage_limit is not None and event.used_count >= event.usage_limit
        event.left = None if event.usage_limit is None else max(event.usage_limit - event.used_count, 0)
    region = region_for_country(str(user.country))
    return {
        "standing": levels.standing_for(user=user),
        "coins": user.coins,
        "checked_in_today": checked_in_today,
        "streak": streak,
        "today_coins": coins.coins_for_streak(next_streak),
        "tomorrow_coins": coins.coins_for_streak(next_streak + 1),
        "streak_cap": coins.STREAK_CAP,
        "offers": [
            {"offer": offer, "affordable": user.coins >= offer.cost, "short": max(offer.cost - user.coins, 0)}
            for offer in coins.COIN_OFFERS.values()
        ],
        "events": running,
        "ledger": list(CoinLedger.objects.filter(member=user).order_by("-created_at", "-id")[:10]),
        "currency": region.currency,
        "form_token": uuid.uuid4().hex,
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
