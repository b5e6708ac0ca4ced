"""Seed a PostgreSQL database at marketplace scale for bench/scale_bench.py (idempotent: skips when seeded).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rp_bench_scale DJANGO_SETTINGS_MODULE=referral_portal.settings \
        python bench/scale_seed.py

What it writes (scaled by SCALE_FACTOR, default 1.0):
- 100,000 members with a referral code, and 200,000 friends (one referral each: a friend is referred once);
- 200,000 referrals in every state across 20,000 referrers: one "biggest" referrer with 5,000, one "typical"
  member with 5, the rest about ten each; two timeline rows per referral;
- 1,000,000 clicks (50,000 on the biggest referrer's code) spread over 180 days;
- 500,000 coupons (two welcome coupons per friend, a reward coupon per credited referral, 60 for the typical
  member) with one "issued" ledger row each.
Rows go in with `bulk_create` (so new model fields with defaults need no change here), then VACUUM ANALYZE.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_portal.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.identity import normalize_email  # noqa: E402
from accounts.models import User  # noqa: E402
from coupons.models import Coupon, LedgerEntry  # noqa: E402
from referrals.models import Click, Referral, ReferralCode, ReferralEvent  # noqa: E402
from referrals.services.rollup import roll_up_clicks  # noqa: E402
from referrals.services.tallies import compact_referral_tallies  # noqa: E402

FACTOR = float(os.environ.get("SCALE_FACTOR", "1.0"))
MEMBERS = int(100_000 * FACTOR)
FRIENDS = int(200_000 * FACTOR)
CLICKS = int(1_000_000 * FACTOR)
REFERRERS = max(int(20_000 * FACTOR), 3)
BIGGEST = 5_000
TYPICAL = 5
BATCH = 5_000
BIG_EMAIL = "bench-biggest@example.com"
TYPICAL_EMAIL = "bench-typical@example.com"
STATES = [
    ("registered", ""),
    ("order_placed", ""),
    ("credited", ""),
    ("capped", "MONTHLY_LIMIT"),
    ("rejected", "SELF_REFERRAL"),
    ("voided", "FIRST_ORDER_CANCELED"),
    ("qualified", ""),
    ("under_review", "SHARED_IP_AND_AGENT"),
]
CHANNELS = ["whatsapp", "telegram", "facebook", "x", "email", "copy", "qr", "instagram"]


def batched(iterable, n=BATCH):
    it = iter(iterable)
    while chunk := list(islice(it, n)):
        yield chunk


def log(message: str, started: float) -> None:
    print(f"  {message} ({time.monotonic() - started:.0f}s)", flush=True)


def users(prefix: str, count: int, now, area: str):
    for i in range(count):
        email = f"{prefix}-{i}@example.com"
        yield User(
            email=email,
            email_normalized=normalize_email(email),
            first_name=f"{prefix.title()}{i}",
            last_name="Bench",
            password="!",
            country="US",
            phone=f"+1{area}{i:07d}",  # a verified phone is unique (accounts.User constraint)
            phone_verified_at=now,
            email_verified_at=now,
            date_joined=now - timedelta(days=200 - i % 180),
        )


def seed() -> None:
    if User.objects.filter(email=BIG_EMAIL).exists():
        print("already seeded", flush=True)
        return
    started = time.monotonic()
    now = timezone.now()
    big = User.objects.create_user(email=BIG_EMAIL, password="bench-password", first_name="Biggest")
    typical = User.objects.create_user(email=TYPICAL_EMAIL, password="bench-password", first_name="Typical")
    User.objects.filter(pk=big.pk).update(phone="+14155550001", phone_verified_at=now)
    User.objects.filter(pk=typical.pk).update(phone="+14155550002", phone_verified_at=now)
    for chunk in batched(users("member", MEMBERS - 2, now, "202")):
        User.objects.bulk_create(chunk)
    log(f"{MEMBERS} members", started)
    for chunk in batched(users("friend", FRIENDS, now, "312")):
        User.objects.bulk_create(chunk)
    log(f"{FRIENDS} friends", started)

    member_ids = [big.pk, typical.pk, *User.objects.filter(email__startswith="member-").values_list("pk", flat=True)]
    ReferralCode.objects.bulk_create(
        [ReferralCode(user_id=uid, code=f"B{uid:09d}") for uid in member_ids], batch_size=BATCH
    )
    codes = dict(ReferralCode.objects.values_list("user_id", "id"))
    log("codes", started)

    # Referrers: the biggest gets BIGGEST friends, the typical member TYPICAL, the others share the rest.
    friend_ids = list(User.objects.filter(email__startswith="friend-").order_by("pk").values_list("pk", flat=True))
    others = member_ids[2:REFERRERS]
    plan = [big.pk] * BIGGEST + [typical.pk] * TYPICAL
    plan += [others[i % len(others)] for i in range(len(friend_ids) - len(plan))]

    def referrals():
        for i, (referrer, friend) in enumerate(zip(plan, friend_ids, strict=True)):
            state, reason = STATES[i % len(STATES)]
            # The biggest referrer's friends came over five years (one every 9 hours: about 10 rewards a
            # month, the monthly limit, so about 10 reward coupons are active at once); the others' over 180 days.
            at = now - (timedelta(hours=9 * i) if i < BIGGEST else timedelta(minutes=7 * i % (180 * 24 * 60)))
            yield Referral(
                referrer_id=referrer,
                friend_id=friend,
                code_id=codes[referrer],
                channel=CHANNELS[i % 8],
                state=state,
                reason_code=reason,
                registered_at=at,
                order_placed_at=at + timedelta(hours=1) if state != "registered" else None,
                completed_at=at + timedelta(days=2) if state in ("credited", "capped", "qualified") else None,
                credited_at=at + timedelta(days=2, hours=1) if state == "credited" else None,
                credit_due_at=at + timedelta(days=3) if state in ("credited", "qualified") else None,
                review_requested_at=at if state == "under_review" else None,
                decided_at=at + timedelta(days=2) if state in ("credited", "capped", "rejected", "voided") else None,
            )

    for chunk in batched(referrals()):
        Referral.objects.bulk_create(chunk)
    log(f"{len(friend_ids)} referrals", started)

    def events():
        for r in Referral.objects.values("id", "state", "reason_code", "registered_at").iterator(chunk_size=BATCH):
            yield ReferralEvent(referral_id=r["id"], to_state="registered", occurred_at=r["registered_at"])
            yield ReferralEvent(
                referral_id=r["id"],
                from_state="registered",
                to_state=r["state"],
                reason_code=r["reason_code"],
                occurred_at=r["registered_at"] + timedelta(hours=1),
            )

    for chunk in batched(events()):
        ReferralEvent.objects.bulk_create(chunk)
    log("timeline rows", started)

    code_ids = list(codes.values())
    big_code = codes[big.pk]

    def clicks():
        for i in range(CLICKS):
            code = big_code if i % 20 == 0 else code_ids[(i * 7919) % len(code_ids)]
            yield Click(
                referral_code_id=code,
                channel=CHANNELS[i % 8],
                clicked_at=now - timedelta(seconds=(i * 15) % (180 * 86400)),
            )

    for chunk in batched(clicks()):
        Click.objects.bulk_create(chunk)
    log(f"{CLICKS} clicks", started)

    def coupons():
        for r in Referral.objects.values("id", "friend_id", "referrer_id", "state", "registered_at").iterator(
            chunk_size=BATCH
        ):
            at = r["registered_at"]
            for value, minimum in ((Decimal("5.00"), Decimal("25.00")), (Decimal("3.00"), Decimal("15.00"))):
                yield Coupon(
                    owner_id=r["friend_id"],
                    source="welcome",
                    welcome_for_id=r["id"],
                    value=value,
                    min_spend=minimum,
                    issued_at=at,
                    expires_at=at + timedelta(days=30),
                    status="active" if at > now - timedelta(days=30) else "expired",
                )
            if r["state"] == "credited":
                yield Coupon(
                    owner_id=r["referrer_id"],
                    source="referral",
                    referral_id=r["id"],
                    value=Decimal("5.00"),
                    min_spend=Decimal("25.00"),
                    issued_at=at + timedelta(days=2, hours=1),
                    expires_at=at + timedelta(days=32, hours=1),
                    status="active" if at > now - timedelta(days=30) else "expired",
                )
        for i in range(60):
            yield Coupon(
                owner_id=typical.pk,
                source="welcome",
                value=Decimal(5 + i % 5),
                min_spend=Decimal(20 + i),
                issued_at=now,
                expires_at=now + timedelta(days=1 + i % 30),
            )

    for chunk in batched(coupons()):
        Coupon.objects.bulk_create(chunk)
    log("coupons", started)

    def ledger():
        for c in Coupon.objects.values("id", "owner_id", "value", "currency", "issued_at").iterator(chunk_size=BATCH):
            yield LedgerEntry(
                coupon_id=c["id"],
                member_id=c["owner_id"],
                event="issued",
                amount=c["value"],
                currency=c["currency"],
                idempotency_key=f"bench-issued:{c['id']}",
                created_at=c["issued_at"],
            )

    for chunk in batched(ledger()):
        LedgerEntry.objects.bulk_create(chunk)
    log("ledger rows", started)
    compact_referral_tallies()  # the kept referral counts' delta rows folded, as the every-minute job does
    log("referral tallies compacted", started)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")  # what autovacuum would do (it is off on some bench servers)
    log("VACUUM ANALYZE", started)


def roll_up() -> None:
    """Count the seeded clicks into the click tallies, as the every-five-minutes beat job would have in production
    (referrals.services.rollup): without it every page would count each member's clicks from the epoch. Run on
    every call, also on a database seeded before the roll-up existed (its first run is the batched catch-up)."""
    started = time.monotonic()
    counted = roll_up_clicks()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) referrals_clicktally")
    log(f"roll-up: {counted} clicks counted", started)


if __name__ == "__main__":
    if connection.vendor != "postgresql":
        sys.exit("scale_seed needs PostgreSQL: set DATABASE_URL")
    seed()
    roll_up()
    print(
        {
            "users": User.objects.count(),
            "referrals": Referral.objects.count(),
            "clicks": Click.objects.count(),
            "coupons": Coupon.objects.count(),
        },
        flush=True,
    )
