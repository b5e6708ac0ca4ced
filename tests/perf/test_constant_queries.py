"""First visits cost a constant number of queries, whatever the member's history (docs/performance.md).

Invite Friends for a referrer with 5 and with 5,000 referrals, My Coupons for a member with 5 and with 500
coupons, and the staff pages for the biggest member: the same number of queries, page caches off (every
request a first visit). A per-row query (a card reading its coupon, a row its store) breaks these tests.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.identity import normalize_email
from accounts.models import User
from coupons.models import Coupon
from referrals.models import Referral, ReferralEvent
from referrals.services import ensure_referral_code
from tests.factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

STATES = [
    ("registered", ""),
    ("order_placed", ""),
    ("qualified", ""),
    ("credited", ""),
    ("capped", "MONTHLY_LIMIT"),
    ("rejected", "SELF_REFERRAL"),
    ("voided", "FIRST_ORDER_CANCELED"),
    ("under_review", "SHARED_IP_AND_AGENT"),
]


@pytest.fixture(autouse=True)
def _first_visits(settings):
    settings.INVITE_FUNNEL_CACHE_SECONDS = 0


def referrer_with(n: int, *, tag: str) -> User:
    """A referrer whose `n` friends are in every state (two timeline rows each, a reward coupon when credited)."""
    referrer = UserFactory(phone_verified=True)
    code = ensure_referral_code(member=referrer)
    now = timezone.now()
    friends = User.objects.bulk_create(
        User(
            email=f"{tag}-{i}@example.com",
            email_normalized=normalize_email(f"{tag}-{i}@example.com"),
            first_name=f"Friend{i}",
            password="!",
        )
        for i in range(n)
    )
    referrals = Referral.objects.bulk_create(
        Referral(
            referrer=referrer,
            friend=friend,
            code=code,
            channel="whatsapp",
            state=STATES[i % 8][0],
            reason_code=STATES[i % 8][1],
            registered_at=now - timedelta(hours=i + 1),
            order_placed_at=now - timedelta(hours=i) if i % 8 else None,
            completed_at=now - timedelta(minutes=30)
            if STATES[i % 8][0] in ("qualified", "credited", "capped")
            else None,
            decided_at=now if STATES[i % 8][0] in ("credited", "capped", "rejected", "voided") else None,
        )
        for i, friend in enumerate(friends)
    )
    ReferralEvent.objects.bulk_create(
        event
        for r in referrals
        for event in (
            ReferralEvent(referral=r, to_state="registered", occurred_at=r.registered_at),
            ReferralEvent(referral=r, from_state="registered", to_state=r.state, reason_code=r.reason_code),
        )
    )
    Coupon.objects.bulk_create(
        Coupon(
            owner=referrer,
            source="referral",
            referral=r,
            value=Decimal("5.00"),
            min_spend=Decimal("25.00"),
            issued_at=now,
            expires_at=now + timedelta(days=30),
        )
        for r in referrals
        if r.state == "credited"
    )
    return referrer


def member_with_coupons(n: int) -> User:
    member = UserFactory()
    store = StoreFactory()
    now = timezone.now()
    Coupon.objects.bulk_create(
        Coupon(
            owner=member,
            source="welcome",
            kind="store" if i % 3 == 0 else "platform",
            store=store if i % 3 == 0 else None,
            value=Decimal(1 + i % 5),
            min_spend=Decimal(10 + i),
            issued_at=now - timedelta(days=40 if i % 4 == 0 else 1),
            expires_at=now + (timedelta(days=-5) if i % 4 == 0 else timedelta(days=1 + i % 29)),
            status="used" if i % 7 == 0 else "active",
        )
        for i in range(n)
    )
    return member


def queries_for(client, user: User, path: str) -> int:
    client.force_login(user)
    client.get(path)  # the first request of a session writes it; measure the second
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries.captured_queries)


def test_invite_friends_queries_do_not_grow_with_referrals(client):
    small, big = referrer_with(5, tag="small"), referrer_with(5_000, tag="big")
    for path in ["/invite/", "/invite/?tab=credited", "/invite/?page=2"]:
        assert queries_for(client, small, path) == queries_for(client, big, path), path


def test_my_coupons_queries_do_not_grow_with_coupons(client):
    small, big = member_with_coupons(5), member_with_coupons(500)

    def picks(member: User) -> str:
        return "&".join(f"pick={pk}" for pk in Coupon.objects.filter(owner=member).values_list("pk", flat=True)[:5])

    for path in ["/coupons/", "/coupons/?tab=store", "/coupons/?tab=history"]:
        assert queries_for(client, small, path) == queries_for(client, big, path), path
    # With the savings calculator (five coupons picked).
    assert queries_for(client, small, f"/coupons/?{picks(small)}") == queries_for(
        client, big, f"/coupons/?{picks(big)}"
    )
