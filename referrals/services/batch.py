"""Crediting or capping a set of locked, due referrals in a handful of statements (docs/program-rules.md G2).

Both crediting paths run this: the per-referral task with a set of one (`crediting.credit_referral`), the
sweep with batches (`sweep.credit_due_referrals`). The caller holds every referral's row lock in its transaction.
1. the terms of every referral (`terms.reward_terms`: the frozen snapshots in one query; regions only for a
   referral without one);
2. the monthly counters: created with INSERT … ON CONFLICT DO NOTHING, then locked (FOR UPDATE, in id order, so
   two writers never deadlock) and raised by the slots taken: the limit stays exact because every writer of a
   counter holds its row lock while deciding;
3. coupons and their 'issued' ledger rows, the referrals' state (credited, or capped with MONTHLY_LIMIT), their
   timeline rows and the notice rows: one INSERT or UPDATE each (ledger and timeline: INSERT only). The notices'
   e-mails are sent by a worker after commit (`accounts.notify.notify_many`, through the outbox);
4. the quarter's milestones (`milestones.count_credits`): every credited friend counted, a reached milestone
   issued, in the same transaction. Outbound events need nothing here: they are read from the timeline rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F
from django.urls import reverse

from accounts.locales import member_money_locale
from accounts.models import User
from accounts.notify import Notice, notify_many
from coupons.models import CouponSource
from coupons.services import NewCoupon, issue_coupons
from lib.bulk import insert_rows
from referrals.models import MonthlyRewardCounter, Referral, ReferralEvent
from referrals.program import program_month
from referrals.reasons import ReasonCode, ReferralState
from referrals.services.milestones import Credit, count_credits
from referrals.services.notices import credited_notice, limit_notice, masked_friend_name
from referrals.services.terms import reward_terms
from referrals.terms import RewardTerms


def reward_key(referral_id: int) -> str:
    """The idempotency key of a referral's reward in the coupon ledger (one reward per referral)."""
    return f"referral-reward:{referral_id}"


@dataclass
class Due:
    pk: int
    referrer_id: int
    credit_due_at: datetime
    referrer_language: str
    referrer_country: str
    friend_email: str
    friend_name: str  # masked the way Invite Friends names the friend (notices.masked_friend_name)
    terms: RewardTerms
    month: date


def load_due(rows: Sequence[tuple[int, int, int, datetime]], *, now: datetime) -> list[Due]:
    """(id, referrer id, friend id, credit_due_at) of locked referrals → what crediting them needs (2 queries)."""
    members = {
        pk: (email, masked_friend_name(first_name, last_name), language, country)
        for pk, email, first_name, last_name, language, country in User.objects.filter(
            pk__in={row[1] for row in rows} | {row[2] for row in rows}
        ).values_list("pk", "email", "first_name", "last_name", "language", "country")
    }
    snapshots = dict(Referral.objects.filter(pk__in=[row[0] for row in rows]).values_list("pk", "terms"))
    terms = reward_terms((pk, members[referrer_id][3], snapshots.get(pk)) for pk, referrer_id, _f, _d in rows)
    months: dict[str, date] = {}
    claimed = []
    for pk, referrer_id, friend_id, credit_due_at in rows:
        zone = terms[pk].time_zone
        if zone not in months:
            months[zone] = program_month(at=now, time_zone=zone)
        claimed.append(
            Due(
                pk=pk,
                referrer_id=referrer_id,
                credit_due_at=credit_due_at,
                referrer_language=members[referrer_id][2],
                referrer_country=members[referrer_id][3],
                friend_email=members[friend_id][0],
                friend_name=members[friend_id][1],
                terms=terms[pk],
                month=months[zone],
            )
        )
    return claimed


def _take_slots(claimed: Sequence[Due]) -> tuple[list[Due], list[Due], list[tuple[int, date, int]]]:
    """Decide credited vs capped under the locked counters; returns (credited, capped, limits reached)."""
    keys = {(due.referrer_id, due.month) for due in claimed}
    MonthlyRewardCounter.objects.bulk_create(
        [MonthlyRewardCounter(referrer_id=r, month=m, count=0) for r, m in sorted(keys)], ignore_conflicts=True
    )
    locked = (
        MonthlyRewardCounter.objects.select_for_update()
        .filter(referrer_id__in={r for r, _m in keys}, month__in={m for _r, m in keys})
        .order_by("pk")
    )
    counters = {(c.referrer_id, c.month): c for c in locked if (c.referrer_id, c.month) in keys}
    counts = {key: counter.count for key, counter in counters.items()}
    credited, capped = [], []
    for due in claimed:  # in (credit_due_at, id) order: the earliest due take the slots
        key = (due.referrer_id, due.month)
        if counts[key] < due.terms.monthly_limit:
            counts[key] += 1
            credited.append(due)
        else:
            capped.append(due)
    # One UPDATE per distinct increment (a few), each over the counters this transaction holds locked.
    by_increment: defaultdict[int, list[int]] = defaultdict(list)
    for key, counter in counters.items():
        if counts[key] != counter.count:
            by_increment[counts[key] - counter.count].append(counter.pk)
    for increment, ids in by_increment.items():
        MonthlyRewardCounter.objects.filter(pk__in=ids).update(count=F("count") + increment)
    limits: dict[tuple[int, date], int] = {}
    for due in claimed:
        key = (due.referrer_id, due.month)
        if counts[key] >= due.terms.monthly_limit:
            limits[key] = due.terms.monthly_limit
    return credited, capped, [(r, m, limit) for (r, m), limit in limits.items()]


def credit_locked(claimed: Sequence[Due], *, now: datetime) -> Counter[str]:
    credited, capped, limits_reached = _take_slots(claimed)
    coupons = issue_coupons(
        [
            NewCoupon(
                owner_id=due.referrer_id,
                source=CouponSource.REFERRAL,
                value=due.terms.reward_amount,
                currency=due.terms.currency,
                min_spend=due.terms.reward_min_spend,
                valid_days=due.terms.coupon_valid_days,
                title="Referral reward",
                idempotency_key=reward_key(due.pk),
                reason=f"Referral reward: first order of {due.friend_email} completed",
                referral_id=due.pk,
            )
            for due in credited
        ],
        issued_at=now,
    )
    _move(credited, ReferralState.CREDITED, reason_code="", now=now, credited_at=now)
    _move(capped, ReferralState.CAPPED, reason_code=ReasonCode.MONTHLY_LIMIT, now=now)
    insert_rows(
        ReferralEvent,
        ("referral", "from_state", "to_state", "reason_code", "actor_kind", "note", "occurred_at", "recorded_at"),
        [
            (
                due.pk,
                ReferralState.QUALIFIED,
                ReferralState.CREDITED,
                "",
                ReferralEvent.Actor.SYSTEM,
                (
                    f"Coupon #{coupon.pk}: {coupon.currency} {coupon.value} off {coupon.min_spend}, "
                    f"valid until {coupon.expires_at:%Y-%m-%d %H:%M} UTC."
                )[:500],
                now,
                now,
            )
            for due, coupon in zip(credited, coupons, strict=True)
        ]
        + [
            (
                due.pk,
                ReferralState.QUALIFIED,
                ReferralState.CAPPED,
                ReasonCode.MONTHLY_LIMIT,
                ReferralEvent.Actor.SYSTEM,
                (
                    f"{due.terms.monthly_limit} of {due.terms.monthly_limit} referral coupons already credited "
                    f"for {due.month:%B %Y}."
                )[:500],
                now,
                now,
            )
            for due in capped
        ],
    )
    # The quarter's milestones: every credited friend counted (one call for the batch, same transaction).
    count_credits([Credit(due.pk, due.referrer_id, due.referrer_country) for due in credited], at=now)
    wallet, invite = reverse("coupons:wallet"), reverse("referrals:invite")
    locales: dict[tuple[str, str], str] = {}
    notices: list[Notice] = []
    for due, coupon in zip(credited, coupons, strict=True):
        key = (due.referrer_language, due.referrer_country)
        if key not in locales:
            locales[key] = member_money_locale(User(language=key[0], country=key[1]))
        notices.append(
            credited_notice(
                referral_id=due.pk,
                referrer_id=due.referrer_id,
                friend_name=due.friend_name,
                value=coupon.value,
                min_spend=coupon.min_spend,
                currency=coupon.currency,
                expires_at=coupon.expires_at,
                locale=locales[key],
                link=wallet,
                language=due.referrer_language,
            )
        )
    languages = {due.referrer_id: due.referrer_language for due in [*credited, *capped]}
    notices += [
        limit_notice(referrer_id=r, month=m, limit=limit, link=invite, language=languages.get(r, ""))
        for r, m, limit in limits_reached
    ]
    notify_many(notices)
    return Counter({ReferralState.CREDITED.value: len(credited), ReferralState.CAPPED.value: len(capped)}) - Counter()


def _move(claimed: Sequence[Due], state: str, *, reason_code: str, now: datetime, **fields) -> None:
    """One UPDATE for referrals this batch holds locked; any not still qualified fails the batch."""
    if not claimed:
        return
    ids = [due.pk for due in claimed]
    moved = Referral.objects.filter(pk__in=ids, state=ReferralState.QUALIFIED).update(
        state=state, reason_code=reason_code, decided_at=now, updated_at=now, **fields
    )
    if moved != len(ids):
        raise RuntimeError(f"{len(ids) - moved} of {len(ids)} locked referral(s) changed state")
