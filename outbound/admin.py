"""Outbound events in the admin: program managers register endpoints (HTTPS, the events they want, a signing
secret the portal generates) and read the delivery log; a re-send and a secret rotation are audited staff actions
with their own permission (docs/outbound-events.md)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from lib.admin import ReadOnlyAdminMixin
from outbound import services
from outbound.models import Delivery, DeliveryAttempt, Endpoint, EventType, OutboundEvent
from outbound.tasks import dispatch_outbound_events
from support.admin.staff_actions import ActionRefused, ReasonForm, run_staff_action
from support.audit import record_staff_action


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"), max_length=500, assume_scheme="https", help_text=_("HTTPS address that receives the events.")
    )
    event_types = forms.MultipleChoiceField(
        label=_("Events"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple, initial=list(EventType)
    )

    class Meta:
        model = Endpoint
        fields = ["name", "url", "event_types", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            services.check_endpoint_url(url)
        except services.DeliveryError as error:
            raise forms.ValidationError(error.message) from None
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = ["name", "url", "is_active", "created_at", "created_by"]
    list_filter = ["is_active"]
    readonly_fields = ["secret", "previous_secret", "created_at", "created_by"]
    actions = ["rotate_secret"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deliveries point at it: switch an endpoint off instead

    def save_model(self, request: HttpRequest, obj: Endpoint, form, change: bool) -> None:
        if not change:
            obj.secret = services.new_secret()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        record_staff_action(
            actor=request.user,
            action="outbound.endpoint_changed" if change else "outbound.endpoint_added",
            target=obj,
            details={"url": obj.url, "event_types": obj.event_types, "is_active": obj.is_active},
        )

    def has_rotate_permission(self, request) -> bool:
        return request.user.has_perm("outbound.change_endpoint")

    @admin.action(permissions=["rotate"], description=_("Rotate the signing secret…"))
    def rotate_secret(self, request, queryset):
        return run_staff_action(
            self,
            request,
            queryset,
            action="outbound.rotate_secret",
            title=_("Rotate signing secrets"),
            intro=_("Events are signed with the new and the old secret until the next rotation."),
            perform=lambda obj, data: {"rotated": bool(services.rotate_secret(endpoint=obj).secret)},
            submit_label=_("Rotate"),
            done_message=_("{count} secret(s) rotated."),
        )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["attempted_at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _resend(obj: Delivery, request: HttpRequest) -> dict:
    try:
        delivery = services.resend(delivery=obj, actor=request.user)
    except services.DeliveryError as error:
        raise ActionRefused(error.message) from None
    dispatch_outbound_events.delay_on_commit()
    return {"event": f"evt_{delivery.event_id}", "endpoint": delivery.endpoint_id}


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log: one row per event and endpoint, its attempts inline."""

    list_display = ["created_at", "event", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "endpoint", "event__type"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["event__id", "last_error"]
    readonly_fields = [
        "endpoint",
        "event",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    ]
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    @admin.display(description=_("payload"))
    def payload(self, obj: Delivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.event.payload, indent=2, sort_keys=True))

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("outbound.resend_delivery")

    @admin.action(permissions=["resend"], description=_("Re-send now…"))
    def resend(self, request, queryset):
        return run_staff_action(
            self,
            request,
            queryset,
            action="outbound.resend",
            title=_("Re-send events"),
            intro=_("Each delivery is attempted again now, with a fresh run of retries."),
            form_class=ReasonForm,
            perform=lambda obj, data: _resend(obj, request),
            submit_label=_("Re-send"),
            done_message=_("{count} delivery(ies) scheduled to be sent again."),
        )


@admin.register(OutboundEvent)
class OutboundEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "type", "referral", "occurred_at", "created_at"]
    list_filter = ["type"]
    list_select_related = ["referral"]
    readonly_fields = ["source", "referral", "type", "occurred_at", "payload", "created_at"]
