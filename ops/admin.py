"""Staff screens of operations: the outbox, task deliveries (parked tasks, retried by hand) and job runs."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from lib.admin import ReadOnlyAdminMixin
from ops.models import JobRun, OutboxMessage, TaskDelivery
from ops.services.deliveries import MAX_DELIVERIES, RetryRefused, retry_parked
from support.admin.staff_actions import ActionRefused, ReasonForm, run_staff_action


class PendingFilter(admin.SimpleListFilter):
    title = _("dispatched")
    parameter_name = "pending"

    def lookups(self, request, model_admin):
        return [("yes", _("Not yet")), ("no", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(dispatched_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(dispatched_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "kind", "target", "args", "created_at", "dispatched_at", "attempts", "next_attempt_at"]
    list_filter = [PendingFilter, "kind", "target"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    ordering = ["-pk"]


class ParkedFilter(admin.SimpleListFilter):
    title = _("parked")
    parameter_name = "parked"

    def lookups(self, request, model_admin):
        return [("waiting", _("Parked, not retried")), ("retried", _("Retried by hand"))]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(parked_at__isnull=False, retried_at__isnull=True)
        if self.value() == "retried":
            return queryset.filter(retried_at__isnull=False)
        return queryset


@admin.register(TaskDelivery)
class TaskDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["task_name", "args", "deliveries", "last_delivered_at", "parked_at", "retried_at"]
    list_filter = [ParkedFilter, "task_name"]
    readonly_fields = [f.name for f in TaskDelivery._meta.fields]
    search_fields = ["task_id", "task_name"]
    ordering = ["-last_delivered_at"]
    actions = ["retry_parked_tasks"]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("ops.retry_parked_task")

    @admin.action(permissions=["retry"], description=_("Retry parked task…"))
    def retry_parked_tasks(self, request, queryset):
        def perform(delivery, data):
            try:
                retry_parked(delivery_id=delivery.pk)
            except RetryRefused as error:
                raise ActionRefused(error.message) from error
            return {"task": delivery.task_name, "args": delivery.args, "deliveries": delivery.deliveries}

        return run_staff_action(
            self,
            request,
            queryset,
            action="task.retry_parked",
            title=_("Retry parked tasks"),
            intro=_(
                "Each task was delivered %(count)s times without finishing (its worker stopped) and was "
                "parked. Retrying sends it once more as a new message; if it stops its worker again it is "
                "parked again. Fix the cause first."
            )
            % {"count": MAX_DELIVERIES},
            perform=perform,
            form_class=ReasonForm,
            submit_label=_("Retry"),
            done_message=_("{count} task(s) sent again."),
        )


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "last_started_at", "last_duration_seconds", "last_count", "runs", "rows"]
    readonly_fields = [f.name for f in JobRun._meta.fields]
