"""Anniversary coupons: a yearly gift for members of a level that has one (Gold and above by default).

Due on the membership anniversary in the member's time zone (29 February → 28 February), with a catch-up window
(`accounts.levels.ANNIVERSARY_CATCH_UP`, 7 days) for a missed daily run; once per member per anniversary year
(ledger key `anniversary:<member>:<year>`, member row lock against parallel sweeps); an inbox notice too
(docs/program-rules.md section 8). The date rules and the level's coupon value are accounts' (accounts.levels).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.levels import ANNIVERSARY_CATCH_UP, all_levels, due_anniversary_year, level_of, member_zone
from accounts.locales import as_member
from accounts.models import AccountStatus, User
from accounts.notify import notify
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponSource, LedgerEntry
from coupons.services.issuing import issue_coupon
from lib.money import format_money


def anniversary_candidates(*, at: datetime) -> QuerySet[User]:
    """Members of levels with an anniversary coupon who joined on a (UTC) month/day near the catch-up window."""
    codes = [level.code for level in all_levels() if level.anniversary_coupon_value > 0]
    days = {(at - timedelta(days=n)).date() for n in range(-1, ANNIVERSARY_CATCH_UP.days + 2)}
    on_day = Q()
    for day in days:
        on_day |= Q(date_joined__month=day.month, date_joined__day=day.day)
    if 2 in {day.month for day in days} or 3 in {day.month for day in days}:
        on_day |= Q(date_joined__month=2, date_joined__day=29)
    return User.objects.filter(
        on_day,
        level__in=codes,
        is_active=True,
        status=AccountStatus.ACTIVE,
        date_joined__lte=at - timedelta(days=360),
    ).order_by("pk")


def issue_anniversary_coupons(*, at: datetime | None = None) -> int:
    """Issue each due Gold-or-above member one anniversary coupon per anniversary year; safe to run twice."""
    at = at or timezone.now()
    issued = 0
    for member in anniversary_candidates(at=at).iterator():
        year = due_anniversary_year(joined_at=member.date_joined, at=at, zone=member_zone(member))
        if year is not None and issue_anniversary_coupon(member=member, year=year, at=at) is not None:
            issued += 1
    return issued


@transaction.atomic
def issue_anniversary_coupon(*, member: User, year: int, at: datetime | None = None) -> Coupon | None:
    """Issue the member's anniversary coupon for `year` at most once (key anniversary:<member>:<year>)."""
    at = at or timezone.now()
    key = f"anniversary:{member.pk}:{year}"
    # The member's row lock serialises two sweeps; the second then sees the first's ledger row.
    locked = User.objects.select_for_update().get(pk=member.pk)
    if LedgerEntry.objects.filter(idempotency_key=key).exists():
        return None
    level = level_of(locked)
    if level.anniversary_coupon_value <= 0:
        return None
    region = region_for_country(str(locked.country))
    coupon = issue_coupon(
        member=locked,
        source=CouponSource.ANNIVERSARY,
        value=level.anniversary_coupon_value,
        min_spend=level.anniversary_coupon_min_spend,
        currency=region.currency,
        idempotency_key=key,
        reason=f"{level.get_code_display()} membership anniversary {year}",
        title=f"Happy anniversary: {level.get_code_display()} member gift",
        issued_at=at,
    )
    with as_member(locked):
        title = _("Happy anniversary! A coupon is waiting in My Coupons")
        body = _(
            "Thank you for another year with us. As a %(level)s member you get a %(amount)s coupon "
            "(minimum spend %(minimum)s)."
        ) % {
            "level": level.get_code_display(),
            "amount": format_money(coupon.value, coupon.currency),
            "minimum": format_money(coupon.min_spend, coupon.currency),
        }
    notify(
        member=locked,
        kind="anniversary_coupon",
        title=title,
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=key,
    )
    return coupon
