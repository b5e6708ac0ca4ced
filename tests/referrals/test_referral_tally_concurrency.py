"""Kept referral counts under concurrency (PostgreSQL, real threads): the credit sweep, the credit task, single-row
and multi-row updates and deletes of one referrer's referrals, while two compactions run again and again. The
triggers only append rows and the compactors run one at a time, so nobody waits on a shared counter row: every
thread finishes without a deadlock and the kept counts equal the counted ones."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from referrals.models import Channel, Referral, ReferralTally
from referrals.reasons import ReferralState
from referrals.services import credit_due_referrals, credit_referral
from referrals.services.tallies import compact_referral_tallies, rebuild_referral_tallies
from tests.concurrency import race
from tests.factories import ReferralCodeFactory, ReferralFactory
from tests.referrals.test_referral_tally import assert_exact

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_writers_and_two_compactions_at_once_keep_the_counts_exact():
    code = ReferralCodeFactory()
    referrer = code.user
    now = timezone.now()
    due = {"completed_at": now, "credit_due_at": now - timedelta(minutes=1)}
    qualified = [r.pk for r in ReferralFactory.create_batch(30, code=code, state=ReferralState.QUALIFIED, **due)]
    registered = [r.pk for r in ReferralFactory.create_batch(60, code=code, channel=Channel.EMAIL)]
    halves = [registered[0::3], registered[1::3]]  # each flipper's own rows
    bulk_rows, deleted = registered[2::3], []
    compactions = []

    def flip(rows: list[int], seed: int) -> None:
        """The order events' shape: one referral per transaction, state and channel changed."""
        rng = random.Random(seed)
        for _ in range(120):
            pk = rng.choice(rows)
            with transaction.atomic():
                referral = Referral.objects.select_for_update().get(pk=pk)
                referral.state = ReferralState.UNDER_REVIEW if referral.state == "registered" else "registered"
                referral.channel = rng.choice([Channel.EMAIL, Channel.QR, Channel.WHATSAPP])
                referral.save(update_fields=["state", "channel", "updated_at"])

    def bulk() -> None:
        """queryset.update() and a delete over many rows at once, like the sweep's and staff's bulk SQL."""
        for i in range(40):
            Referral.objects.filter(pk__in=bulk_rows).update(order_placed_at=now if i % 2 else None)
        gone = bulk_rows[:5]
        Referral.objects.filter(pk__in=gone).delete()
        deleted.extend(gone)

    def credit_each(seed: int) -> None:
        for pk in random.Random(seed).sample(qualified, len(qualified)):
            credit_referral(referral_id=pk)

    def compact() -> None:
        for _ in range(40):
            compactions.append(compact_referral_tallies(batch=1))
            time.sleep(0.005)

    def rebuild() -> None:
        for _ in range(10):
            rebuild_referral_tallies(referrer_ids=[referrer.pk])
            time.sleep(0.01)

    jobs = [
        lambda: flip(halves[0], 1),
        lambda: flip(halves[1], 2),
        bulk,
        credit_due_referrals,
        lambda: credit_each(3),
        compact,
        compact,
        rebuild,
    ]
    results = race(len(jobs), lambda i: jobs[i]())
    assert [r for r in results if isinstance(r, Exception)] == []

    assert sum(c.referrers for c in compactions) > 1  # the compactors did work while the writers wrote
    assert Referral.objects.filter(state__in=[ReferralState.CREDITED, ReferralState.CAPPED]).count() == 30
    assert len(deleted) == 5
    assert_exact([referrer.pk])
    compact_referral_tallies()
    assert_exact([referrer.pk])
    groups = ReferralTally.objects.values_list("channel", "state")
    assert len(groups) == len(set(groups))  # one row per group
