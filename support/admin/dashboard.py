"""The staff dashboard at /admin/dashboard/ and the referrals CSV export (audited); the figures are
`support.dashboard`'s (a fixed number of aggregate queries, whatever the data size)."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from referrals.models import Referral
from support.admin.staff_actions import staff_view
from support.audit import record_staff_action
from support.dashboard import DAYS, dashboard_data, referrals_for_export

EXPORT_MAX_DAYS = 366


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
@staff_view(permission="referrals.view_referral", changes_state=False)
def dashboard(request: HttpRequest) -> HttpResponse:
    """Staff with view access to referrals (wrapped in admin.site.admin_view in the URLconf)."""
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
@staff_view(permission="referrals.export_referrals", changes_state=False)
def export_referrals(request: HttpRequest) -> HttpResponse:
    """Stream the referrals of a date range as CSV (audited); a bad range re-renders the dashboard with a 400."""
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
