"""The credit sweep: every due qualified referral, credited or capped in set-based batches (docs/program-rules.md G1).

One transaction per batch of `SWEEP_BATCH` referrals, a handful of statements each whatever its size:
1. claim the batch: `SELECT … FOR UPDATE SKIP LOCKED` of qualified, due referrals, in (credit_due_at, id)
   order from a cursor (keyset), through the partial index `referral_qualified_due_idx` that holds only
   qualified rows: a claim never re-walks credited ones, and two sweeps (two beats) or the per-referral
   task running beside it each take rows the other has not locked;
2. the terms of every referral (`terms.reward_terms`, one query at most);
3. the monthly counters: created with INSERT … ON CONFLICT DO NOTHING, then locked (FOR UPDATE, in id order,
   so two sweeps never deadlock) and raised by the slots this batch takes: the limit stays exact because
   every writer of a counter (this sweep, the per-referral path) holds its row lock while deciding;
4. coupons and their 'issued' ledger rows, the referrals' state (credited or capped with MONTHLY_LIMIT),
   their timeline rows and the notice rows: one INSERT or UPDATE each (ledger and timeline: INSERT only).
E-mails of the notices are sent by a worker after commit (`accounts.notify.notify_many`).

A batch that fails is rolled back and its referrals are credited one per transaction by the per-referral
path, so one bad row cannot stall the rest (it is logged and retried by the next sweep).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.locales import member_money_locale
from accounts.models import User
from accounts.notify import Notice, notify_many
from coupons.models import CouponSource
from coupons.services import NewCoupon, issue_coupons
from lib.bulk import insert_rows
from referrals.models import MonthlyRewardCounter, Referral, ReferralEvent
from referrals.program import program_month
from referrals.reasons import ReasonCode, ReferralState
from referrals.services import crediting
from referrals.services.notices import credited_notice, limit_notice
from referrals.services.terms import RewardTerms, reward_terms

logger = logging.getLogger(__name__)

# Referrals per transaction: large enough that per-statement costs vanish, small enough that a batch's locks
# and its rollback (on a bad row) stay short.
SWEEP_BATCH = 500


@dataclass
class _Due:
    pk: int
    referrer_id: int
    credit_due_at: datetime
    referrer_language: str
    referrer_country: str
    friend_email: str
    friend_first_name: str
    terms: RewardTerms
    month: date


def credit_due_referrals(*, batch: int = SWEEP_BATCH, budget_seconds: float | None = None) -> dict[str, int]:
    """Credit or cap every qualified referral due now, batch by batch; returns counts per outcome.

    Drains everything due when it started (rows that fall due meanwhile wait for the next run). With
    `budget_seconds` it stops after the batch that passes the budget and reports {"unfinished": 1}.
    """
    now = timezone.now()
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    cursor: tuple[datetime, int] | None = None
    while True:
        claimed: list[_Due] = []
        try:
            with transaction.atomic():
                claimed = _claim(now=now, cursor=cursor, batch=batch)
                if not claimed:
                    break
                cursor = (claimed[-1].credit_due_at, claimed[-1].pk)
                outcomes.update(_credit_batch(claimed, now=now))
        except Exception:
            if not claimed:
                logger.exception("credit sweep could not claim due referrals; the next sweep retries")
                outcomes["failed"] += 1
                break
            logger.exception("credit sweep: a batch of %s failed; crediting its referrals one by one", len(claimed))
            outcomes.update(_one_by_one([due.pk for due in claimed]))
        if len(claimed) < batch:
            break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            outcomes["unfinished"] = 1
            break
    if outcomes:
        logger.info("credit sweep: %s in %.1f s", dict(outcomes), time.monotonic() - started)
    return dict(outcomes)


def _claim(*, now: datetime, cursor: tuple[datetime, int] | None, batch: int) -> list[_Due]:
    due = Referral.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        state=ReferralState.QUALIFIED, credit_due_at__lte=now
    )
    if cursor is not None:
        due = due.filter(Q(credit_due_at__gt=cursor[0]) | Q(credit_due_at=cursor[0], pk__gt=cursor[1]))
    rows = list(
        due.order_by("credit_due_at", "pk").values_list("pk", "referrer_id", "friend_id", "credit_due_at")[:batch]
    )
    if not rows:
        return []
    members = {
        pk: (email, first_name, language, country)
        for pk, email, first_name, language, country in User.objects.filter(
            pk__in={row[1] for row in rows} | {row[2] for row in rows}
        ).values_list("pk", "email", "first_name", "language", "country")
    }
    terms = reward_terms((pk, members[referrer_id][3]) for pk, referrer_id, _f, _d in rows)
    months: dict[str, date] = {}
    claimed = []
    for pk, referrer_id, friend_id, credit_due_at in rows:
        zone = terms[pk].time_zone
        if zone not in months:
            months[zone] = program_month(at=now, time_zone=zone)
        claimed.append(
            _Due(
                pk=pk,
                referrer_id=referrer_id,
                credit_due_at=credit_due_at,
                referrer_language=members[referrer_id][2],
                referrer_country=members[referrer_id][3],
                friend_email=members[friend_id][0],
                friend_first_name=members[friend_id][1],
                terms=terms[pk],
                month=months[zone],
            )
        )
    return claimed


def _take_slots(claimed: Sequence[_Due]) -> tuple[list[_Due], list[_Due], list[tuple[int, date, int]]]:
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


def _credit_batch(claimed: Sequence[_Due], *, now: datetime) -> Counter[str]:
    credited, capped, limits_reached = _take_slots(claimed)
    coupons = issue_coupons(
        [
            NewCoupon(
                owner_id=due.referrer_id,
                source=CouponSource.REFERRAL,
                value=due.terms.value,
                currency=due.terms.currency,
                min_spend=due.terms.min_spend,
                valid_days=due.terms.valid_days,
                title="Referral reward",
                idempotency_key=crediting.reward_key(due.pk),
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
                friend_name=due.friend_first_name,
                value=coupon.value,
                min_spend=coupon.min_spend,
                currency=coupon.currency,
                expires_at=coupon.expires_at,
                locale=locales[key],
                link=wallet,
            )
        )
    notices += [limit_notice(referrer_id=r, month=m, limit=limit, link=invite) for r, m, limit in limits_reached]
    notify_many(notices)
    return Counter({ReferralState.CREDITED.value: len(credited), ReferralState.CAPPED.value: len(capped)}) - Counter()


def _move(claimed: Sequence[_Due], state: str, *, reason_code: str, now: datetime, **fields) -> None:
    """One UPDATE for referrals this batch holds locked; any not still qualified fails the batch."""
    if not claimed:
        return
    ids = [due.pk for due in claimed]
    moved = Referral.objects.filter(pk__in=ids, state=ReferralState.QUALIFIED).update(
        state=state, reason_code=reason_code, decided_at=now, updated_at=now, **fields
    )
    if moved != len(ids):
        raise RuntimeError(f"{len(ids) - moved} of {len(ids)} locked referral(s) changed state")


def _one_by_one(ids: Sequence[int]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for pk in ids:
        try:
            outcomes[str(crediting.credit_referral(referral_id=pk))] += 1
        except Exception:
            logger.exception("crediting referral %s failed; the next sweep retries it", pk)
            outcomes["failed"] += 1
    return outcomes
