"""Crediting one referral on PostgreSQL: the per-referral task's path in one function call (docs/performance.md).

`referrals_credit_referral` (referrals/migrations/0014_credit_referral_function.py) locks the referral and does
the database side of `batch.credit_locked` for a set of one: terms, the monthly counter (the limit exact under
concurrency, G2), coupon, ledger row, state, timeline row, the quarter's milestone counter. Here, in the same
transaction: the notices in the referrer's language (`notify_many`: their e-mails go through the outbox), and
the milestone award when the function says a tier was reached. Other databases run `crediting.credit_referral`'s
ORM path; tests/referrals/test_credit_fast_path.py checks both write the same rows.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.locales import member_money_locale
from accounts.models import User
from accounts.notify import Notice, notify_many
from referrals.services.milestones import award_places
from referrals.services.notices import credited_notice, limit_notice, masked_friend_name

logger = logging.getLogger(__name__)

_SQL = "SELECT * FROM referrals_credit_referral(%s, %s)"


def credit_referral_in_database(*, referral_id: int) -> str:
    """`crediting.credit_referral` on PostgreSQL; the caller's transaction (atomic) holds everything written."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [referral_id, now])
        (
            outcome,
            referrer_id,
            language,
            country,
            first_name,
            last_name,
            value,
            min_spend,
            currency,
            expires_at,
            month,
            monthly_limit,
            limit_reached,
            region_id,
            quarter,
            place,
            tier_reached,
            acted,
        ) = cursor.fetchone()
    if outcome == "has_coupon":
        # Cannot happen through crediting; refuse rather than issue a second reward.
        logger.error("referral %s is qualified but already has a reward coupon", referral_id)
        return "qualified"
    if not acted:  # missing (""), not qualified (its state) or not due yet ("qualified"): nothing written
        return outcome
    notices: list[Notice] = []
    if outcome == "credited":
        if tier_reached:
            award_places([(referral_id, region_id, quarter, place)], at=now)
        notices.append(
            credited_notice(
                referral_id=referral_id,
                referrer_id=referrer_id,
                friend_name=masked_friend_name(first_name, last_name),
                value=value,
                min_spend=min_spend,
                currency=currency,
                expires_at=expires_at,
                locale=member_money_locale(User(language=language, country=country)),
                link=reverse("coupons:wallet"),
                language=language,
            )
        )
    if limit_reached:
        notices.append(
            limit_notice(
                referrer_id=referrer_id,
                month=month,
                limit=monthly_limit,
                link=reverse("referrals:invite"),
                language=language,
            )
        )
    # The e-mail goes with the relay's next pass (seconds), merged with the other credits' (accounts.notify).
    notify_many(notices, email_now=False)
    return outcome
