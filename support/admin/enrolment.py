"""Second-factor set-up links in the staff console: a superuser creates one for a staff member who cannot receive
the e-mail (support/enrolment.py); the link is shown once, only its hash is kept, and the creation is audited."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from support.admin.staff_actions import ReasonForm, perform_and_audit, staff_view
from support.enrolment import ENROLMENT_LINK_TTL, create_enrolment_link
from support.models import StaffEnrolmentLink


class CreateLinkForm(ReasonForm):
    staff_email = forms.EmailField(label=_("Staff member's e-mail"))
    field_order = ["staff_email", "reason"]

    def clean_staff_email(self) -> str:
        email = self.cleaned_data["staff_email"].strip().lower()
        self.staff = User.objects.filter(email=email, is_staff=True, is_active=True).first()
        if self.staff is None:
            raise forms.ValidationError(_("No active staff account has this e-mail address."))
        return email


@admin.register(StaffEnrolmentLink)
class StaffEnrolmentLinkAdmin(admin.ModelAdmin):
    list_display = ["user", "created_by", "created_at", "expires_at", "used_at"]
    list_select_related = ["user", "created_by"]
    search_fields = ["user__email"]
    fields = ["user", "created_by", "created_at", "expires_at", "used_at"]
    readonly_fields = fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    @staff_view(permission="support.add_staffenrolmentlink", changes_state=True)
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Create a one-time set-up link for a staff member (superusers only), audited; shown once."""
        if not request.user.is_superuser:
            return self.changelist_view(request)
        url = ""
        form = CreateLinkForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            tokens: list[str] = []

            def perform(staff, data: dict) -> dict:
                tokens.append(create_enrolment_link(user=staff, created_by=request.user))
                return {"valid_minutes": int(ENROLMENT_LINK_TTL.total_seconds() // 60)}

            _done, refused = perform_and_audit(
                request=request,
                objects=[form.staff],
                action="second factor link created",
                perform=perform,
                data=form.cleaned_data,
            )
            for text in refused:
                form.add_error(None, text)
            if tokens:
                url = request.build_absolute_uri(reverse("staff_second_factor_enrol", args=[tokens[0]]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Create a second-factor set-up link"),
            "intro": _(
                "For a staff member who cannot receive the e-mail. Hand the link over in person: it works once, "
                "within %(minutes)s minutes, and only after their password."
            )
            % {"minutes": int(ENROLMENT_LINK_TTL.total_seconds() // 60)},
            "opts": self.model._meta,
            "objects": [],
            "form": form,
            "submit_label": _("Create link"),
            "created_url": url,
        }
        return TemplateResponse(request, "admin/staff_action_form.html", context)
