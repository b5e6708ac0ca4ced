"""One query whose answer changes whenever anything Invite Friends shows from the database changes.

The page cache of `referrals.views.invite` keys its content on it. Support requests are support's: the view
passes their part (`support.selectors.invite_page_version_parts`) as `extra`, and it joins the same query.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat

from accounts.models import User
from coupons.models import Coupon, CouponSource, CouponStatus
from referrals.models import MonthlyRewardCounter, Referral

# More columns of the version query: name → expression on the member's row (`OuterRef("pk")` is the member).
# A module-level function, so the compiled SQL is kept per function.
VersionParts = Callable[[], dict[str, Any]]


def scalar(qs: QuerySet, expression: Any) -> Subquery:
    """One aggregate of `qs` (grouped by the member) as a column of the version query."""
    return Subquery(qs.order_by().annotate(v=expression).values("v")[:1])


def invite_page_version(*, member: User, extra: VersionParts | None = None) -> str:
    """A string that changes whenever anything Invite Friends shows from the database changes: one query.

    What the cached content shows, and what changes its key (`referrals.views.invite`):
    - tab counts, sign-up / coupon tiles, funnel sign-ups/orders/coupons, the cards' state, reason,
      dates, order and timeline: the member's referrals' count and Max(updated_at) (every transition and
      every fact stored on a referral sets `updated_at`, and timeline rows are only written with one;
      a deleted referral changes the count);
    - "Earned so far": the referral coupons' count and the counts of voided and used ones;
    - a card's open support request (its number and status): `extra`, count and Max(updated_at) of the
      support requests on the member's referrals (`support.selectors.invite_page_version_parts`);
    - the meter, its notices and the tips: the member's latest monthly counter (month and value; the
      current month's counter is always the latest, and a new month comes with the clock bucket);
    - "expires in", the crediting and support delays (`referrals.program`), the month's reset, a sale
      event starting or ending (the sale tip): the clock (the key's minute bucket);
    - the link, the code, the QR code: the code and the request's scheme and host (in the key);
    - tab, page, language, money locale, time zone and country (the region): in the key.
    What may lag by up to INVITE_PAGE_CACHE_SECONDS: link opens (the funnel's clicks, already cached
    by `referrals.selectors.funnel.cached_channel_funnel`), a friend renaming their account (the masked
    name), staff edits of a Region's program settings and staff adding or editing a sale event (the sale tip).
    """
    sql, params = _invite_version_sql(connection.vendor, extra)
    with connection.cursor() as cursor:
        cursor.execute(sql, [member.pk if p == _USER_SENTINEL else p for p in params])
        row = cursor.fetchone()
    return "|".join(
        "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
        for value in (row or ())
    )


# The user's id while the version query's SQL is compiled (no real id): replaced by the real id on each call.
_USER_SENTINEL = -7_356_915_012


@lru_cache(maxsize=8)
def _invite_version_sql(vendor: str, extra: VersionParts | None) -> tuple[str, tuple]:
    """The version query's SQL, compiled by the ORM once per process (compiling it costs more than running it)."""
    referrals = Referral.objects.filter(referrer=OuterRef("pk")).values("referrer")
    coupons = Coupon.objects.filter(owner=OuterRef("pk"), source=CouponSource.REFERRAL).values("owner")
    counter = MonthlyRewardCounter.objects.filter(referrer=OuterRef("pk")).order_by("-month")
    columns: dict[str, Any] = {
        # Count and latest change in one scan of the member's referrals (the part that grows).
        "referrals_v": scalar(
            referrals,
            Concat(Cast(Count("id"), CharField()), Value("/"), Cast(Max("updated_at"), CharField())),
        ),
        "coupons_n": scalar(coupons, Count("id")),
        "coupons_voided": scalar(coupons, Count("id", filter=Q(status=CouponStatus.VOIDED))),
        "coupons_used": scalar(coupons, Count("id", filter=Q(status=CouponStatus.USED))),
        "counter_month": Subquery(counter.values("month")[:1]),
        "counter_n": Subquery(counter.values("count")[:1]),
        **(extra() if extra is not None else {}),
    }
    query = User.objects.filter(pk=_USER_SENTINEL).annotate(**columns).values_list(*columns).query
    sql, params = query.get_compiler(connection=connection).as_sql()
    assert params.count(_USER_SENTINEL) == 1, "the version query takes the user's id once"
    return sql, tuple(params)
