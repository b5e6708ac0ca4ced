"""The staff dashboard at /admin/dashboard/: program health at a glance, and the referrals CSV export.

Selectors first (a fixed number of aggregate queries, whatever the data size), then two thin views.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from referrals.models import Referral
from referrals.reasons import ReferralState

DAYS = 14
QUALIFIED_ALERT_AFTER = timedelta(hours=12)
TECHNICAL_DELAY_AFTER = timedelta(hours=24)
REVIEW_ALERT_AFTER = timedelta(hours=24)
LIST_LIMIT = 20
EXPORT_MAX_DAYS = 366


# --- selectors ----------------------------------------------------------------------------------------


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
    """Qualified-but-uncredited referrals (oldest age), TECHNICAL_DELAY ones, and undecided reviews over 24 h."""
    qualified = Referral.objects.filter(state=ReferralState.QUALIFIED)
    oldest = qualified.aggregate(oldest=Min(Coalesce("completed_at", "credit_due_at")), n=Count("id"))
    oldest_age = now - oldest["oldest"] if oldest["oldest"] else None
    delayed = qualified.filter(
        Q(delay_flagged_at__isnull=False) | Q(completed_at__lt=now - TECHNICAL_DELAY_AFTER)
    ).select_related("referrer", "friend")
    stale_reviews = (
        Referral.objects.filter(state=ReferralState.UNDER_REVIEW)
        .annotate(waiting_since=Coalesce("review_requested_at", "registered_at"))
        .filter(waiting_since__lt=now - REVIEW_ALERT_AFTER)
        .select_related("referrer", "friend")
    )
    return {
        "qualified_count": oldest["n"],
        "oldest_qualified_age": oldest_age,
        "oldest_qualified_alert": bool(oldest_age and oldest_age > QUALIFIED_ALERT_AFTER),
        "delayed_count": delayed.count(),
        "delayed": list(delayed.order_by("completed_at")[:LIST_LIMIT]),
        "stale_review_count": stale_reviews.count(),
        "stale_reviews": list(stale_reviews.order_by("waiting_since")[:LIST_LIMIT]),
    }


def program_month_filter(*, now: datetime) -> tuple[Q, datetime]:
    """Reward coupons issued in the current program month of their owner's region (each region's own time zone).

    Mirrors crediting: a member's region is their country's row, or the default region's for unlisted
    countries (`accounts.selectors.region_for_country`). Returns the filter and the default region's
    month start (for display).
    """
    from zoneinfo import ZoneInfo

    from accounts.models import Region
    from referrals.services.crediting import program_month

    regions = list(Region.objects.only("country", "time_zone", "is_default"))
    listed = [region.country for region in regions if not region.is_default]
    in_month, shown = Q(pk__in=[]), None
    for region in regions:
        zone = ZoneInfo(region.time_zone or "UTC")
        start = datetime.combine(program_month(at=now, time_zone=region.time_zone), time.min, tzinfo=zone)
        members = ~Q(owner__country__in=listed) if region.is_default else Q(owner__country=region.country)
        in_month |= members & Q(issued_at__gte=start)
        if region.is_default:
            shown = start
    return in_month, shown or timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def coupon_figures(*, now: datetime) -> dict:
    """Referral coupons: redemption rate (used ÷ issued, all time) and this month's reward cost per currency.

    "This month" is the program month of each coupon owner's region, in that region's time zone: the
    month the reward was counted against the monthly limit in.
    """
    from coupons.models import Coupon, CouponSource, CouponStatus

    referral_coupons = Coupon.objects.filter(source=CouponSource.REFERRAL)
    counts = referral_coupons.aggregate(issued=Count("id"), used=Count("id", filter=Q(status=CouponStatus.USED)))
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


def dashboard_data(*, now: datetime | None = None) -> dict:
    """Everything the dashboard shows, in a fixed number of queries."""
    now = now or timezone.now()
    per_day, max_total = referrals_per_day(now=now)
    since = timezone.make_aware(datetime.combine(timezone.localdate(now) - timedelta(days=DAYS - 1), time.min))
    return {
        "now": now,
        "days": DAYS,
        "states": ReferralState.choices,
        "per_day": per_day,
        "per_day_max": max_total,
        "outcomes": outcomes_since(since=since),
        **delays(now=now),
        **coupon_figures(now=now),
    }


def referrals_for_export(*, date_from: date, date_to: date):
    """Referrals registered between the two dates (inclusive), oldest first, streamed in chunks."""
    start = timezone.make_aware(datetime.combine(date_from, time.min))
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min))
    return (
        Referral.objects.filter(registered_at__gte=start, registered_at__lt=end)
        .select_related("referrer", "friend", "code")
        .order_by("registered_at", "id")
        .iterator(chunk_size=2000)
    )


# --- views --------------------------------------------------------------------------------------------


class ExportForm(forms.Form):
    date_from = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                raise forms.ValidationError("The end date is before the start date.")
            if (end - start).days >= EXPORT_MAX_DAYS:
                raise forms.ValidationError(f"Export at most {EXPORT_MAX_DAYS} days at a time.")
        return data


def _render(request: HttpRequest, *, export_form: ExportForm, status: int = 200) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        "title": "Staff dashboard",
        "data": dashboard_data(),
        "export_form": export_form,
        "can_export": request.user.has_perm("referrals.export_referrals"),
        "can_review": request.user.has_perm("referrals.review_referral")
        or request.user.has_perm("referrals.view_referralreview"),
    }
    return TemplateResponse(request, "admin/staff_dashboard.html", context, status=status)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Staff with view access to referrals (wrapped in admin.site.admin_view in the URLconf)."""
    if not request.user.has_perm("referrals.view_referral"):
        raise PermissionDenied
    today = timezone.localdate()
    form = ExportForm(initial={"date_from": today - timedelta(days=DAYS - 1), "date_to": today})
    return _render(request, export_form=form)


class _Echo:
    def write(self, value: str) -> str:
        return value


_CSV_COLUMNS = [
    "id",
    "registered_at",
    "referrer_email",
    "friend_email",
    "code",
    "channel",
    "state",
    "reason_code",
    "order_placed_at",
    "completed_at",
    "credited_at",
    "decided_at",
]


def _cell(value) -> str:
    text = "" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    # Spreadsheet formula injection: a cell must never start like a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _rows(referrals):
    yield _CSV_COLUMNS
    for r in referrals:
        yield [
            _cell(v)
            for v in (
                r.pk,
                r.registered_at,
                r.referrer.email,
                r.friend.email,
                r.code.code,
                r.channel,
                r.state,
                r.reason_code,
                r.order_placed_at,
                r.completed_at,
                r.credited_at,
                r.decided_at,
            )
        ]


@require_GET
def export_referrals(request: HttpRequest) -> HttpResponse:
    """Stream the referrals of a date range as CSV (audited); a bad range re-renders the dashboard with a 400."""
    from support.audit import record_staff_action

    if not request.user.has_perm("referrals.export_referrals"):
        raise PermissionDenied
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _render(request, export_form=form, status=400)
    date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    record_staff_action(
        actor=request.user,
        action="referral.export_csv",
        target=Referral,
        target_repr=f"referrals registered {date_from} to {date_to}",
        details={"date_from": date_from.isoformat(), "date_to": date_to.isoformat()},
    )
    writer = csv.writer(_Echo())
    stream = (writer.writerow(row) for row in _rows(referrals_for_export(date_from=date_from, date_to=date_to)))
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="referrals_{date_from}_{date_to}.csv"'
    return response
