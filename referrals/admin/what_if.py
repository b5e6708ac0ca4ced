"""What-if runs: a program manager replays past referrals under other eligibility thresholds before changing one
(`referrals.services.what_if`, computed by Celery). Starting a run and downloading its CSV are audited."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from referrals.eligibility import TODAY
from referrals.models import WhatIfRun
from referrals.tasks import run_what_if_task
from support.admin.staff_actions import staff_view
from support.audit import record_staff_action

MAX_DAYS = 366


class WhatIfForm(forms.ModelForm):
    class Meta:
        model = WhatIfRun
        fields = [
            "date_from",
            "date_to",
            "device_account_limit",
            "ip_signups_per_day_limit",
            "referrer_burst_limit",
            "note",
        ]

    def clean(self):
        data = super().clean()
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to:
            if date_from > date_to:
                raise forms.ValidationError(gettext_lazy("The first day must not be after the last day."))
            if (date_to - date_from).days >= MAX_DAYS:
                raise forms.ValidationError(gettext_lazy("Choose at most a year of sign-ups."))
        settings = [
            data.get(name) for name in ("device_account_limit", "ip_signups_per_day_limit", "referrer_burst_limit")
        ]
        if None not in settings and tuple(settings) == (
            TODAY.device_account_limit,
            TODAY.ip_signups_per_day_limit,
            TODAY.referrer_burst_limit,
        ):
            raise forms.ValidationError(gettext_lazy("Change at least one threshold: these are today's settings."))
        return data


@admin.register(WhatIfRun)
class WhatIfRunAdmin(admin.ModelAdmin):
    form = WhatIfForm
    list_display = [
        "id",
        "created_at",
        "created_by",
        "date_from",
        "date_to",
        "settings_text",
        "status",
        "progress_text",
        "changed",
    ]
    list_select_related = ["created_by"]
    readonly_fields = [
        "created_by",
        "created_at",
        "status",
        "progress_bar",
        "changed",
        "not_replayable",
        "examples_table",
        "csv_link",
        "error",
        "started_at",
        "finished_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("referrals.run_what_if")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm("referrals.run_what_if")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {
            "device_account_limit": TODAY.device_account_limit,
            "ip_signups_per_day_limit": TODAY.ip_signups_per_day_limit,
            "referrer_burst_limit": TODAY.referrer_burst_limit,
        }

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return WhatIfForm.Meta.fields
        return [
            "date_from",
            "date_to",
            "device_account_limit",
            "ip_signups_per_day_limit",
            "referrer_burst_limit",
            "note",
            *self.readonly_fields,
        ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return []
        return [*WhatIfForm.Meta.fields, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: WhatIfRun, form, change: bool) -> None:
        if change:
            raise PermissionDenied
        obj.created_by = request.user
        obj.save()
        record_staff_action(
            actor=request.user,
            action="referral.what_if",
            target=obj,
            reason=obj.note,
            details={
                "date_from": obj.date_from.isoformat(),
                "date_to": obj.date_to.isoformat(),
                "device_account_limit": obj.device_account_limit,
                "ip_signups_per_day_limit": obj.ip_signups_per_day_limit,
                "referrer_burst_limit": obj.referrer_burst_limit,
            },
        )
        run_what_if_task.delay_on_commit(obj.pk)

    def get_urls(self):
        return [
            path("<int:run_id>/csv/", self.admin_site.admin_view(self.download_csv), name="referrals_whatifrun_csv"),
            *super().get_urls(),
        ]

    @staff_view(permission="referrals.view_whatifrun", changes_state=False)
    def download_csv(self, request: HttpRequest, run_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(WhatIfRun, pk=run_id)
        if run.status != WhatIfRun.Status.DONE:
            raise Http404("This what-if has not finished yet.")
        record_staff_action(actor=request.user, action="referral.what_if_csv", target=run)
        response = HttpResponse(run.csv_text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="what-if-{run.pk}.csv"'
        return response

    @admin.display(description=gettext_lazy("settings"))
    def settings_text(self, obj: WhatIfRun) -> str:
        return _("device limit %(device)s · IP burst %(ip)s · referrer burst %(burst)s") % {
            "device": obj.device_account_limit,
            "ip": obj.ip_signups_per_day_limit,
            "burst": obj.referrer_burst_limit,
        }

    @admin.display(description=gettext_lazy("progress"))
    def progress_text(self, obj: WhatIfRun) -> str:
        return f"{obj.processed} / {obj.total}"

    @admin.display(description=gettext_lazy("progress"))
    def progress_bar(self, obj: WhatIfRun) -> SafeString:
        note = (
            _("Reload the page to follow the worker.") if obj.status in (obj.Status.PENDING, obj.Status.RUNNING) else ""
        )
        return format_html(
            '<progress value="{}" max="{}" aria-label="{}"></progress> {} / {} {}',
            obj.processed,
            max(obj.total, 1),
            _("referrals replayed"),
            obj.processed,
            obj.total,
            note,
        )

    @admin.display(description=gettext_lazy("examples"))
    def examples_table(self, obj: WhatIfRun) -> SafeString:
        if not obj.examples:
            return format_html("{}", _("No referral would change outcome.") if obj.status == obj.Status.DONE else "—")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{} {}</td><td>{} {}</td></tr>',
            (
                (
                    reverse("admin:referrals_referral_change", args=[row["referral_id"]]),
                    row["referral_id"],
                    row["state"],
                    row["today_outcome"],
                    row["today_reason"],
                    row["what_if_outcome"],
                    row["what_if_reason"],
                )
                for row in obj.examples
            ),
        )
        return format_html(
            "<table><thead><tr><th scope='col'>{}</th><th scope='col'>{}</th><th scope='col'>{}</th>"
            "<th scope='col'>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("referral"),
            _("state"),
            _("today's rules"),
            _("what-if"),
            rows,
        )

    @admin.display(description=gettext_lazy("CSV"))
    def csv_link(self, obj: WhatIfRun) -> SafeString:
        if obj.status != obj.Status.DONE:
            return format_html("{}", _("Available when the run is done."))
        url = reverse("admin:referrals_whatifrun_csv", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Download the CSV (every referral replayed)"))
