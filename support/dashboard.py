"""The staff dashboard's figures: program health at a glance (its page: `support.admin.dashboard`).

Every selector runs a fixed number of aggregate queries, whatever the data size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import Region
from coupons.models import Coupon, CouponSource, CouponStatus
from referrals.models import ReconciliationReport, Referral
from referrals.program import CREDIT_DEADLINE, REVIEW_ALERT_AFTER, hours, program_month_start
from referrals.reasons import ReferralState
from referrals.selectors import meter

DAYS = 14
# A qualified referral waiting this long already shows in amber (the promise is `CREDIT_DEADLINE`).
QUALIFIED_ALERT_AFTER = timedelta(hours=12)
LIST_LIMIT = 20


@dataclass(frozen=True)
class DayRow:
    day: date
    counts: list[int]  # in the order of ReferralState
    total: int


def referrals_per_day(*, now: datetime, days: int = DAYS) -> tuple[list[DayRow], int]:
    """Referrals registered per day for the last `days` days (today included), by current state; one query."""
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    rows = (
        Referral.objects.filter(registered_at__gte=start)
        .annotate(day=TruncDate("registered_at"))
        .values("day", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    grid: dict[date, dict[str, int]] = {}
    for row in rows:
        grid.setdefault(row["day"], {})[row["state"]] = row["n"]
    result = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        counts = [grid.get(day, {}).get(state, 0) for state in ReferralState.values]
        result.append(DayRow(day=day, counts=counts, total=sum(counts)))
    return result, max((r.total for r in result), default=0)


def outcomes_since(*, since: datetime) -> dict[str, int]:
    """Referrals that reached credited / capped / voided / rejected since `since`; one query."""
    terminal = ["credited", "capped", "voided", "rejected"]
    return Referral.objects.filter(decided_at__gte=since).aggregate(
        **{state: Count("id", filter=Q(state=state)) for state in terminal}
    )


def delays(*, now: datetime) -> dict:
    """Qualified-but-uncredited referrals (oldest age), TECHNICAL_DELAY ones (past CREDIT_DEADLINE), and reviews
    undecided past REVIEW_ALERT_AFTER."""
    qualified = Q(state=ReferralState.QUALIFIED)
    is_delayed = Q(delay_flagged_at__isnull=False) | Q(completed_at__lt=now - CREDIT_DEADLINE)
    under_review = Q(state=ReferralState.UNDER_REVIEW)
    waiting_since = Coalesce("review_requested_at", "registered_at")
    is_stale = Q(waiting_since__lt=now - REVIEW_ALERT_AFTER)
    # Two counts, each answered from one index alone (an index-only scan on a vacuumed table, no heap page read):
    # the qualified figures from referral_qualified_cover_idx, which carries every column they read, and the
    # stale reviews from referral_review_queue_idx. One pass over both states reads every row from the heap
    # (about 25 ms for 50,000 referrals at scale against 2 + 3 ms).
    figures = Referral.objects.filter(qualified).aggregate(
        oldest=Min(Coalesce("completed_at", "credit_due_at")),
        n=Count("*"),
        # COUNT(state), a column of the index (never NULL, so the same as COUNT(*), which takes no filter).
        delayed=Count("state", filter=is_delayed),
    )
    figures["stale"] = Referral.objects.filter(under_review).alias(waiting_since=waiting_since).filter(is_stale).count()
    oldest_age = now - figures["oldest"] if figures["oldest"] else None
    # The first LIST_LIMIT of each, in order, through referral_qualified_cover_idx and referral_review_wait_idx.
    delayed = Referral.objects.filter(qualified & is_delayed).select_related("referrer", "friend")
    stale_reviews = (
        Referral.objects.filter(under_review)
        .annotate(waiting_since=waiting_since)
        .filter(is_stale)
        .select_related("referrer", "friend")
    )
    return {
        "qualified_count": figures["n"],
        "oldest_qualified_age": oldest_age,
        "oldest_qualified_alert": bool(oldest_age and oldest_age > QUALIFIED_ALERT_AFTER),
        "delayed_count": figures["delayed"],
        "delayed": list(delayed.order_by("completed_at")[:LIST_LIMIT]),
        "stale_review_count": figures["stale"],
        "stale_reviews": list(stale_reviews.order_by("waiting_since")[:LIST_LIMIT]),
    }


def program_month_filter(*, now: datetime) -> tuple[Q, datetime]:
    """Reward coupons issued in the current program month of their owner's region (each region's own time zone).

    Mirrors crediting: a member's region is their country's row, or the default region's for unlisted
    countries (`accounts.selectors.region_for_country`), and the month is `referrals.program.program_month`,
    the one the member's meter counts in. Returns the filter and the default region's month start (for display).
    """
    regions = list(Region.objects.only("country", "time_zone", "is_default"))
    listed = [region.country for region in regions if not region.is_default]
    in_month, shown = Q(pk__in=[]), None
    for region in regions:
        start = program_month_start(at=now, time_zone=region.time_zone)
        members = ~Q(owner__country__in=listed) if region.is_default else Q(owner__country=region.country)
        in_month |= members & Q(issued_at__gte=start)
        if region.is_default:
            shown = start
    # No default region (a database being set up): the month in the site's time zone.
    return in_month, shown or program_month_start(at=now, time_zone=timezone.get_current_timezone_name())


def coupon_figures(*, now: datetime) -> dict:
    """Referral coupons: redemption rate (used ÷ issued, all time) and this month's reward cost per currency.

    "This month" is the program month of each coupon owner's region, in that region's time zone: the
    month the reward was counted against the monthly limit in.
    """
    referral_coupons = Coupon.objects.filter(source=CouponSource.REFERRAL)
    # Columns of coupon_source_status_idx rather than the id, so it is answered from the index alone (index-only).
    counts = referral_coupons.aggregate(issued=Count("*"), used=Count("status", filter=Q(status=CouponStatus.USED)))
    in_month, month_start = program_month_filter(now=now)
    # A voided reward was reversed: it costs nothing.
    cost = (
        referral_coupons.filter(in_month)
        .exclude(status=CouponStatus.VOIDED)
        .values("currency")
        .annotate(total=Sum("value"), n=Count("id"))
        .order_by("currency")
    )
    issued, used = counts["issued"], counts["used"]
    return {
        "issued": issued,
        "used": used,
        "redemption_rate": (Decimal(used) / Decimal(issued) * 100).quantize(Decimal("0.1")) if issued else None,
        "month_start": month_start,
        "month": timezone.localtime(month_start, month_start.tzinfo).date(),
        "month_cost": list(cost),
    }


def reconciliation() -> dict:
    """The latest nightly reconciliation (referrals.services.reconciliation): when, how many problems, the first
    LIST_LIMIT of each kind; one query."""
    report = ReconciliationReport.objects.order_by("-ran_at", "-pk").first()
    if report is None:
        return {"reconciliation": None}
    return {
        "reconciliation": report,
        "reconciliation_gaps": report.reward_gaps[:LIST_LIMIT],
        "reconciliation_ledger": report.ledger_problems[:LIST_LIMIT],
    }


def dashboard_data(*, now: datetime | None = None) -> dict:
    """Everything the dashboard shows, in a fixed number of queries."""
    now = now or timezone.now()
    per_day, max_total = referrals_per_day(now=now)
    since = timezone.make_aware(datetime.combine(timezone.localdate(now) - timedelta(days=DAYS - 1), time.min))
    return {
        "now": now,
        "days": DAYS,
        "qualified_alert_hours": hours(QUALIFIED_ALERT_AFTER),
        "credit_deadline_hours": hours(CREDIT_DEADLINE),
        "review_alert_hours": hours(REVIEW_ALERT_AFTER),
        "states": ReferralState.choices,
        "per_day": per_day,
        "per_day_max": max_total,
        "outcomes": outcomes_since(since=since),
        **delays(now=now),
        **coupon_figures(now=now),
        # The month's count as every member's meter has it (one definition: referrals.selectors.meter).
        "month_counted": meter.counted_this_month(now=now),
        **reconciliation(),
    }


def referrals_for_export(*, date_from: date, date_to: date) -> Iterator[Referral]:
    """Referrals registered between the two dates (inclusive), oldest first, streamed in chunks."""
    start = timezone.make_aware(datetime.combine(date_from, time.min))
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min))
    return (
        Referral.objects.filter(registered_at__gte=start, registered_at__lt=end)
        .select_related("referrer", "friend", "code")
        .order_by("registered_at", "id")
        .iterator(chunk_size=2000)
    )
