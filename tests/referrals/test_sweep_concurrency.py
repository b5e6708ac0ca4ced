"""The set-based credit sweep under concurrency (docs/program-rules.md G1, G2; PostgreSQL, real threads).

Two sweeps (two beats by mistake) and the per-referral task running beside them split the work: every due
referral ends credited or capped exactly once, every referrer gets exactly min(due, free slots) coupons, each
with one ledger row, and a sweep stopped half-way and run again finishes the job without doubling anything.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from accounts.models import Notification, User
from coupons.models import Coupon, LedgerEntry
from referrals.models import MonthlyRewardCounter, Referral, ReferralCode, ReferralEvent
from referrals.program import program_month
from referrals.services import credit_due_referrals, credit_referral

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIMIT = 10  # the default region's monthly limit


def seed(*, referrals: int, referrers: int, preset: dict[int, int] | None = None, seed: int = 19) -> dict[int, int]:
    """`referrals` qualified, due referrals spread unevenly over `referrers` (bulk rows: the test is about the
    sweep, not the factories); `preset` = {referrer index: slots already used this month}. Returns
    {referrer id: referrals due}."""
    rng = random.Random(seed)
    now = timezone.now()
    members = User.objects.bulk_create(
        [
            User(email=f"s{i}@sweep.example", email_normalized=f"s{i}@sweep.example", first_name=f"F{i}", password="!")
            for i in range(referrers + referrals)
        ]
    )
    owners, friends = members[:referrers], members[referrers:]
    codes = ReferralCode.objects.bulk_create([ReferralCode(user=u, code=f"SWEEP{u.pk}") for u in owners])
    due: Counter[int] = Counter()
    rows = []
    for i, friend in enumerate(friends):
        code = codes[min(int(referrers * rng.random() ** 2), referrers - 1)]
        due[code.user_id] += 1
        at = now - timedelta(hours=1) + timedelta(milliseconds=i)
        rows.append(
            Referral(
                referrer_id=code.user_id, friend=friend, code=code, state="qualified", completed_at=at, credit_due_at=at
            )
        )
    Referral.objects.bulk_create(rows, batch_size=2000)
    month = program_month(at=now, time_zone="UTC")
    MonthlyRewardCounter.objects.bulk_create(
        [MonthlyRewardCounter(referrer=owners[i], month=month, count=n) for i, n in (preset or {}).items()]
    )
    return dict(due)


def run_together(*jobs):
    """Start every job at once (a Barrier), each in its own thread and connection; returns results and errors."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [], []

    def run(job):
        try:
            barrier.wait(timeout=30)
            results.append(job())
        except Exception as exc:  # noqa: BLE001 - every error is a test failure, reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results, errors


def assert_exact(due: dict[int, int], preset_by_referrer: dict[int, int]) -> None:
    """Every referral decided once; coupons per referrer = min(due, free slots); one ledger row each."""
    assert not Referral.objects.filter(state="qualified").exists()
    total = sum(due.values())
    credited = dict(Coupon.objects.values_list("owner_id").annotate(n=Count("id")).order_by())
    for referrer_id, n in due.items():
        free = LIMIT - preset_by_referrer.get(referrer_id, 0)
        assert credited.get(referrer_id, 0) == min(n, free), referrer_id
    assert Coupon.objects.count() == Referral.objects.filter(state="credited").count()
    assert (
        Coupon.objects.count() + Referral.objects.filter(state="capped", reason_code="MONTHLY_LIMIT").count() == total
    )
    assert LedgerEntry.objects.filter(event="issued").count() == Coupon.objects.count()
    assert not Coupon.objects.values("referral").annotate(n=Count("id")).filter(n__gt=1).exists()
    # One timeline row per decision, one credited notice per coupon, counters equal to what was used.
    assert ReferralEvent.objects.count() == total
    assert Notification.objects.filter(kind="referral_credited").count() == Coupon.objects.count()
    for counter in MonthlyRewardCounter.objects.all():
        assert counter.count == preset_by_referrer.get(counter.referrer_id, 0) + credited.get(counter.referrer_id, 0)


def test_two_sweeps_over_ten_thousand_due_referrals_credit_each_once_and_cap_exactly():
    due = seed(referrals=10_000, referrers=1_000, preset={0: 9, 1: 10, 5: 3})
    owners = list(User.objects.order_by("pk").values_list("pk", flat=True)[:1_000])
    preset = {owners[0]: 9, owners[1]: 10, owners[5]: 3}
    assert max(due.values()) > LIMIT  # the limit bites
    results, errors = run_together(credit_due_referrals, credit_due_referrals)
    assert errors == []
    both = Counter()
    for outcome in results:
        both.update(outcome)
    assert both["credited"] + both["capped"] == 10_000 and "failed" not in both
    assert all(outcome for outcome in results)  # both sweeps did part of the work
    assert_exact(due, preset)
    assert credit_due_referrals() == {}


def test_the_per_referral_task_beside_a_sweep_keeps_the_limit_exact():
    due = seed(referrals=1_500, referrers=60, seed=7)
    ids = list(Referral.objects.order_by("?").values_list("pk", flat=True)[:300])

    def fast_path(chunk):
        return lambda: [credit_referral(referral_id=pk) for pk in chunk]

    jobs = [credit_due_referrals, fast_path(ids[:150]), fast_path(ids[150:])]
    results, errors = run_together(*jobs)
    assert errors == []
    assert len(results) == 3
    assert_exact(due, {})


def test_a_sweep_stopped_half_way_and_run_again_finishes_without_doubling():
    due = seed(referrals=3_000, referrers=200, seed=3)
    first = credit_due_referrals(batch=500, budget_seconds=0)  # stops after its first batch, like a killed run
    assert first.pop("unfinished") == 1
    assert sum(first.values()) == 500
    results, errors = run_together(credit_due_referrals, credit_due_referrals)
    assert errors == []
    assert sum(n for outcome in results for n in outcome.values()) == 2_500
    assert credit_due_referrals() == {}
    assert_exact(due, {})
