"""Turning qualified referrals into reward coupons, under the monthly limit, exactly once.

The limit holds under any concurrency because of one counter row per
(referrer, program month): created with INSERT … ON CONFLICT DO NOTHING, then
locked and raised in the same transaction as the coupon and its ledger row
(docs/program-rules.md G2; the code is `referrals.services.batch`, which the
sweep runs for batches and `credit_referral` for a set of one). The referral
row is locked first, and the coupon's OneToOne to the referral makes a second
reward impossible even if everything else went wrong.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponSource
from coupons.services import issue_coupon
from lib.errors import DomainError
from referrals.models import MonthlyRewardCounter, Referral, ReferralEvent
from referrals.program import CREDIT_DEADLINE, hours, hours_text, program_month
from referrals.reasons import ReasonCode, ReferralState
from referrals.services.batch import credit_locked, load_due, reward_key
from referrals.services.credit_one import credit_referral_in_database
from referrals.services.milestones import count_credit
from referrals.services.notices import notify_credited
from referrals.services.terms import terms_for
from referrals.services.timeline import transition
from referrals.terms import RewardTerms

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


def _issue_reward(
    *, referral: Referral, terms: RewardTerms, now: datetime, reason: str, actor: User | None = None
) -> Coupon:
    """The referrer's reward coupon on the referral's terms; the referral's OneToOne makes it at most one."""
    return issue_coupon(
        member=referral.referrer,
        source=CouponSource.REFERRAL,
        value=terms.reward_amount,
        min_spend=terms.reward_min_spend,
        currency=terms.currency,
        valid_days=terms.coupon_valid_days,
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
    if connection.vendor == "postgresql":
        # The same work in one PL/pgSQL call (referrals/migrations/0014_credit_referral_function.py).
        return credit_referral_in_database(referral_id=referral_id)
    return credit_referral_orm(referral_id=referral_id)


def credit_referral_orm(*, referral_id: int) -> str:
    """`credit_referral` through the ORM (SQLite; on PostgreSQL the tests compare it with the function); the
    caller's transaction holds it."""
    referral = Referral.objects.select_for_update(of=("self",)).filter(pk=referral_id).first()
    if referral is None:
        return ""
    if referral.state != ReferralState.QUALIFIED:
        return referral.state
    if referral.credit_due_at and referral.credit_due_at > timezone.now():
        return referral.state  # not due yet; the sweep picks it up when it is
    return credit_locked_referral(referral)


def credit_locked_referral(referral: Referral) -> str:
    """The crediting itself (`batch.credit_locked` for a set of one); the caller holds the referral's row lock
    inside a transaction, and the referral is qualified in the database."""
    if Coupon.objects.filter(referral_id=referral.pk).exists():
        # Cannot happen through this module; refuse rather than issue a second reward.
        logger.error("referral %s is qualified but already has a reward coupon", referral.pk)
        return referral.state
    now = timezone.now()
    due = load_due([(referral.pk, referral.referrer_id, referral.friend_id, referral.credit_due_at or now)], now=now)
    outcome = next(iter(credit_locked(due, now=now)))
    referral.refresh_from_db(fields=["state", "reason_code", "credited_at", "decided_at", "updated_at"])
    logger.debug("referral %s %s", referral.pk, outcome)
    return outcome


@transaction.atomic
def credit_manually(*, referral: Referral, actor: User, reason: str) -> Coupon:
    """Staff credit with a reason, even past the monthly limit; at most one reward per referral.

    A manual credit does not take a monthly slot (the limit is the program's
    automatic promise; staff decide case by case), and its ledger row names the
    staff member and the reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise CreditError(_("Give a reason for crediting this referral by hand."))
    if actor is None or not actor.is_staff:
        raise CreditError(_("Only staff can credit a referral by hand."))
    locked = Referral.objects.select_for_update(of=("self",)).select_related("referrer", "friend").get(pk=referral.pk)
    if locked.state not in MANUAL_CREDIT_FROM:
        raise CreditError(
            _(
                "A referral that is “%(state)s” cannot be credited by hand "
                "(only qualified, capped, under review or rejected ones)."
            )
            % {"state": locked.get_state_display()}
        )
    if actor.pk in (locked.referrer_id, locked.friend_id):
        raise CreditError(_("Nobody credits a referral they are part of: ask another staff member."))
    if locked.completed_at is None:
        raise CreditError(_("The friend's first order has not completed yet; there is nothing to credit."))
    if Coupon.objects.filter(referral_id=locked.pk).exists():
        raise CreditError("This referral already has its reward coupon.")
    now = timezone.now()
    coupon = _issue_reward(
        referral=locked,
        terms=terms_for(locked),
        now=now,
        reason=f"{ReasonCode.MANUAL_CREDIT}: {reason}",
        actor=actor,
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
    count_credit(referral=locked, region=region_for_country(str(locked.referrer.country)), at=now)
    referral.refresh_from_db()
    return coupon


def release_monthly_slot(*, referral: Referral) -> bool:
    """Give back the monthly slot an automatic credit used (the month it was credited in)."""
    if referral.credited_at is None:
        return False
    terms = terms_for(referral)
    month = program_month(at=referral.credited_at, time_zone=terms.time_zone)
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
