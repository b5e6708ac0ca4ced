"""Turning qualified referrals into reward coupons, under the monthly limit, exactly once.

The limit holds under any concurrency because of one counter row per
(referrer, program month): created with INSERT … ON CONFLICT DO NOTHING, then
raised with a conditional UPDATE (count < limit) in the same transaction as
the coupon and its ledger row (docs/program-rules.md G2). The referral row is
locked first, and the coupon's OneToOne to the referral makes a second reward
impossible even if everything else went wrong.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from coupons.models import Coupon, CouponSource
from coupons.services import issue_coupon
from lib.errors import DomainError
from referrals.models import MonthlyRewardCounter, Referral, ReferralEvent
from referrals.program import CREDIT_DEADLINE, hours, hours_text, program_month
from referrals.reasons import ReasonCode, ReferralState
from referrals.services.notices import notify_credited, notify_limit_reached
from referrals.services.timeline import transition
from referrals.terms import RewardTerms, reward_terms

logger = logging.getLogger(__name__)

# States staff may credit by hand (with a reason): a completed first order that was held,
# capped or turned down. Not before the order completed, and never twice.
MANUAL_CREDIT_FROM = (
    ReferralState.QUALIFIED,
    ReferralState.CAPPED,
    ReferralState.UNDER_REVIEW,
    ReferralState.REJECTED,
)


# A completed first order in one of these states has its reason (no reward is owed, or staff decide).
EXPLAINED_WITHOUT_REWARD = (
    ReferralState.CAPPED,
    ReferralState.VOIDED,
    ReferralState.REJECTED,
    ReferralState.UNDER_REVIEW,
)


class CreditError(DomainError):
    """A staff crediting request that cannot be carried out (the message says why)."""

    code = "CREDIT_REFUSED"


def reward_key(referral_id: int) -> str:
    return f"referral-reward:{referral_id}"


def _issue_reward(
    *, referral: Referral, region: RewardTerms, now: datetime, reason: str, actor: User | None = None
) -> Coupon:
    """The referrer's reward coupon on the referral's frozen terms; the referral's OneToOne makes it at most one."""
    return issue_coupon(
        member=referral.referrer,
        source=CouponSource.REFERRAL,
        value=region.reward_amount,
        min_spend=region.reward_min_spend,
        currency=region.currency,
        valid_days=region.coupon_valid_days,
        issued_at=now,
        title="Referral reward",
        referral=referral,
        idempotency_key=reward_key(referral.pk),
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def credit_referral(*, referral_id: int) -> str:
    """Credit a qualified referral once (coupon + ledger row) or cap it; safe to run any number of times.

    Returns the referral's state afterwards ("" if it does not exist).
    """
    referral = (
        Referral.objects.select_for_update(of=("self",)).select_related("referrer", "friend").filter(pk=referral_id)
    ).first()
    if referral is None:
        return ""
    if referral.state != ReferralState.QUALIFIED:
        return referral.state
    if referral.credit_due_at and referral.credit_due_at > timezone.now():
        return referral.state  # not due yet; the sweep picks it up when it is
    return credit_locked_referral(referral)


def credit_locked_referral(referral: Referral) -> str:
    """The crediting itself; the caller holds the referral's row lock inside a transaction."""
    if Coupon.objects.filter(referral_id=referral.pk).exists():
        # Cannot happen through this module; refuse rather than issue a second reward.
        logger.error("referral %s is qualified but already has a reward coupon", referral.pk)
        return referral.state
    region = reward_terms(referral)
    now = timezone.now()
    month = program_month(at=now, time_zone=region.time_zone)
    limit = region.monthly_limit
    MonthlyRewardCounter.objects.bulk_create(
        [MonthlyRewardCounter(referrer_id=referral.referrer_id, month=month, count=0)], ignore_conflicts=True
    )
    counter = MonthlyRewardCounter.objects.filter(referrer_id=referral.referrer_id, month=month)
    took_slot = counter.filter(count__lt=limit).update(count=F("count") + 1)
    if not took_slot:
        moved = transition(
            referral=referral,
            to_state=ReferralState.CAPPED,
            from_states=[ReferralState.QUALIFIED],
            reason_code=ReasonCode.MONTHLY_LIMIT,
            occurred_at=now,
            note=f"{limit} of {limit} referral coupons already credited for {month:%B %Y}.",
        )
        if not moved:
            raise RuntimeError(f"referral {referral.pk} changed state while locked")
        notify_limit_reached(referral=referral, month=month, limit=limit)
        logger.info("referral %s capped: monthly limit %s reached for %s", referral.pk, limit, month)
        return ReferralState.CAPPED
    coupon = _issue_reward(
        referral=referral, region=region, now=now, reason=f"Referral reward: first order of {referral.friend} completed"
    )
    moved = transition(
        referral=referral,
        to_state=ReferralState.CREDITED,
        from_states=[ReferralState.QUALIFIED],
        occurred_at=now,
        note=(
            f"Coupon #{coupon.pk}: {coupon.currency} {coupon.value} off {coupon.min_spend}, "
            f"valid until {coupon.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        credited_at=now,
    )
    if not moved:
        raise RuntimeError(f"referral {referral.pk} changed state while locked")
    notify_credited(referral=referral, coupon=coupon)
    if counter.values_list("count", flat=True).get() >= limit:
        notify_limit_reached(referral=referral, month=month, limit=limit)
    logger.info("referral %s credited with coupon %s", referral.pk, coupon.pk)
    return ReferralState.CREDITED


def credit_due_referrals(*, batch: int = 200) -> dict[str, int]:
    """Sweep: credit every due qualified referral, one per transaction, claimed with FOR UPDATE SKIP LOCKED.

    Two sweeps (or a sweep and a task) never wait for each other and never
    credit one referral twice; a referral that fails is logged and skipped
    until the next run, so one bad row cannot stall the rest.
    """
    now = timezone.now()
    outcomes: Counter[str] = Counter()
    failed: list[int] = []
    for _ in range(batch):
        referral = None
        try:
            with transaction.atomic():
                referral = (
                    Referral.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("referrer", "friend")
                    .filter(state=ReferralState.QUALIFIED, credit_due_at__lte=now)
                    .exclude(pk__in=failed)
                    .order_by("credit_due_at", "pk")
                    .first()
                )
                if referral is None:
                    break
                outcomes[credit_locked_referral(referral)] += 1
        except Exception:
            if referral is None:
                logger.exception("credit sweep could not claim due referrals; the next sweep retries")
                outcomes["failed"] += 1
                break
            logger.exception("crediting referral %s failed; the next sweep retries it", referral.pk)
            failed.append(referral.pk)
            outcomes["failed"] += 1
    return dict(outcomes)


@transaction.atomic
def credit_manually(*, referral: Referral, actor: User, reason: str) -> Coupon:
    """Staff credit with a reason, even past the monthly limit; at most one reward per referral.

    A manual credit does not take a monthly slot (the limit is the program's
    automatic promise; staff decide case by case), and its ledger row names the
    staff member and the reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise CreditError("Give a reason for crediting this referral by hand.")
    if actor is None or not actor.is_staff:
        raise CreditError("Only staff can credit a referral by hand.")
    locked = Referral.objects.select_for_update(of=("self",)).select_related("referrer", "friend").get(pk=referral.pk)
    if locked.state not in MANUAL_CREDIT_FROM:
        raise CreditError(
            f"A referral that is '{locked.get_state_display()}' cannot be credited by hand "
            "(only qualified, capped, under review or rejected ones)."
        )
    if actor.pk in (locked.referrer_id, locked.friend_id):
        raise CreditError(gettext("Nobody credits a referral they are part of: ask another staff member."))
    if locked.completed_at is None:
        raise CreditError("The friend's first order has not completed yet; there is nothing to credit.")
    if Coupon.objects.filter(referral_id=locked.pk).exists():
        raise CreditError("This referral already has its reward coupon.")
    region = reward_terms(locked)
    now = timezone.now()
    coupon = _issue_reward(
        referral=locked, region=region, now=now, reason=f"{ReasonCode.MANUAL_CREDIT}: {reason}", actor=actor
    )
    transition(
        referral=locked,
        to_state=ReferralState.CREDITED,
        from_states=MANUAL_CREDIT_FROM,
        reason_code=ReasonCode.MANUAL_CREDIT,
        actor=actor,
        actor_kind=ReferralEvent.Actor.STAFF,
        note=reason,
        occurred_at=now,
        credited_at=now,
    )
    notify_credited(referral=locked, coupon=coupon)
    referral.refresh_from_db()
    return coupon


def release_monthly_slot(*, referral: Referral) -> bool:
    """Give back the monthly slot an automatic credit used (the month it was credited in)."""
    if referral.credited_at is None:
        return False
    region = reward_terms(referral)
    month = program_month(at=referral.credited_at, time_zone=region.time_zone)
    return bool(
        MonthlyRewardCounter.objects.filter(referrer_id=referral.referrer_id, month=month, count__gt=0).update(
            count=F("count") - 1
        )
    )


def flag_delayed_referrals(*, batch: int = 500) -> int:
    """Mark referrals still qualified CREDIT_DEADLINE after completion (TECHNICAL_DELAY, once each); state stays
    qualified."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Referral.objects.select_for_update(skip_locked=True)
            .filter(
                state=ReferralState.QUALIFIED,
                completed_at__lte=now - CREDIT_DEADLINE,
                delay_flagged_at__isnull=True,
            )
            .order_by("completed_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return 0
        Referral.objects.filter(pk__in=ids, delay_flagged_at__isnull=True).update(
            delay_flagged_at=now, reason_code=ReasonCode.TECHNICAL_DELAY, updated_at=now
        )
        ReferralEvent.objects.bulk_create(
            [
                ReferralEvent(
                    referral_id=pk,
                    from_state=ReferralState.QUALIFIED,
                    to_state=ReferralState.QUALIFIED,
                    reason_code=ReasonCode.TECHNICAL_DELAY,
                    note=f"Reward still not issued {hours_text(CREDIT_DEADLINE)} after the first order completed.",
                    occurred_at=now,
                    recorded_at=now,
                )
                for pk in ids
            ]
        )
    logger.warning(
        "TECHNICAL_DELAY: %s referral(s) still qualified %s h after completion: %s",
        len(ids),
        hours(CREDIT_DEADLINE),
        ids,
    )
    return len(ids)


def reconcile_rewards(*, older_than: timedelta = CREDIT_DEADLINE) -> list[dict]:
    """Nightly check: every completed first order older than CREDIT_DEADLINE has a reward or a reason; returns the
    gaps.

    A reason is a decided state without reward (capped, voided, rejected) or a
    pending human decision (under review). Anything else without a coupon is
    reported, including referrals already flagged TECHNICAL_DELAY and ones
    whose completion never reached the referral at all.
    """
    cutoff = timezone.now() - older_than
    gaps = (
        Referral.objects.filter(
            Q(completed_at__lte=cutoff) | Q(friend__orders__is_first=True, friend__orders__completed_at__lte=cutoff)
        )
        .filter(reward_coupon__isnull=True)
        .exclude(state__in=EXPLAINED_WITHOUT_REWARD)
        .distinct()
        .order_by("pk")
        .values("pk", "referrer_id", "friend_id", "state", "first_order_id", "completed_at")
    )
    report = [
        {
            "referral_id": row["pk"],
            "referrer_id": row["referrer_id"],
            "friend_id": row["friend_id"],
            "state": row["state"],
            "first_order_id": row["first_order_id"],
            "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
        }
        for row in gaps
    ]
    if report:
        logger.error("reconcile_rewards: %s completed first order(s) without reward or reason: %s", len(report), report)
    else:
        logger.info("reconcile_rewards: every completed first order has a reward or a reason")
    return report
