"""The referral list and the fraud review queue: read-only pages with the audited actions of `actions`."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import prefetch_related_objects
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from coupons.models import Coupon
from lib.admin import BigTableAdminMixin, ReadOnlyAdminMixin
from referrals.admin.actions import ApproveReviewForm, ReferralActionsMixin, RejectReviewForm
from referrals.admin.panels import render_behaviour, render_timeline, timeline_prefetch
from referrals.admin.replay import render_replay
from referrals.admin.signals import render_signals
from referrals.admin.terms import render_terms
from referrals.models import Referral, ReferralReview
from referrals.program import REVIEW_ALERT_AFTER, hours
from referrals.reasons import ReferralState
from support.admin.staff_actions import ACTION_PERMISSION, run_object_action, staff_view
from support.templatetags.staff import duration


class BaseReferralAdmin(BigTableAdminMixin, ReferralActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_select_related = ["referrer", "friend"]
    search_fields = ["referrer__email", "friend__email", "code__code"]
    search_help_text = _("Referrer's or friend's e-mail, or the referral code.")
    fieldsets = [
        (None, {"fields": ["referrer", "friend", "code", "channel", "click", "state", "reason_code"]}),
        (
            _("Dates"),
            {
                "fields": [
                    "registered_at",
                    "first_order",
                    "order_placed_at",
                    "completed_at",
                    "credit_due_at",
                    "credited_at",
                    "delay_flagged_at",
                    "review_requested_at",
                    "decided_at",
                ]
            },
        ),
        (_("Terms promised at sign-up"), {"fields": ["terms_table"]}),
        (_("Timeline"), {"fields": ["timeline"]}),
        (_("Signals (what the automatic decision read)"), {"fields": ["signals_table"]}),
        (_("Replay under today's rules (no state change)"), {"fields": ["replay_table"]}),
        (_("Coupons"), {"fields": ["reward_coupon_display"]}),
    ]
    # The referral's page offers the review decision itself (approve, or reject with a reason) when the
    # referral is under review; both run the audited actions of `ReferralActionsMixin`.
    change_form_template = "admin/referrals/referral_change_form.html"
    object_actions = ("approve_reviews", "reject_reviews")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        urls = [
            path(
                "<path:object_id>/decide/<str:action>/",
                self.admin_site.admin_view(self.decide_view),
                name=f"{info[0]}_{info[1]}_decide",
            )
        ]
        return urls + super().get_urls()

    @staff_view(permission=ACTION_PERMISSION, changes_state=True)
    def decide_view(self, request, object_id: str, action: str):
        """Approve or reject this one referral from its page (the list's audited actions, permission checked)."""
        info = self.opts.app_label, self.opts.model_name
        back = reverse(f"admin:{info[0]}_{info[1]}_change", args=[object_id])
        done = reverse("admin:referrals_referralreview_changelist")
        return run_object_action(self, request, object_id=object_id, action=action, back_url=back, done_url=done)

    def get_object(self, request, object_id, from_field=None):
        """The referral with the rows its page shows read-only (referrer, friend, code, click, first order) in
        the same query, not one query each; read once per request (the decision panel and the form both ask)."""
        cache = request.__dict__.setdefault("_referral_objects", {})
        key = (type(self), object_id, from_field)
        if key not in cache:
            queryset = self.get_queryset(request).select_related("referrer", "friend", "code", "click", "first_order")
            model = queryset.model
            field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
            try:
                cache[key] = queryset.get(**{field.name: field.to_python(object_id)})
            except (model.DoesNotExist, ValidationError, ValueError):
                cache[key] = None
        return cache[key]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None and obj.state == ReferralState.UNDER_REVIEW and self.has_review_permission(request):
            info = self.opts.app_label, self.opts.model_name
            extra_context["decision"] = {
                "approve_url": reverse(f"admin:{info[0]}_{info[1]}_decide", args=[obj.pk, "approve_reviews"]),
                "reject_url": reverse(f"admin:{info[0]}_{info[1]}_decide", args=[obj.pk, "reject_reviews"]),
                "approve_form": ApproveReviewForm(auto_id="approve_%s"),
                "reject_form": RejectReviewForm(auto_id="reject_%s"),
                "signals": self.medium_signals(obj),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Referral._meta.fields] + [
            "terms_table",
            "timeline",
            "signals_table",
            "replay_table",
            "reward_coupon_display",
        ]

    @admin.display(description=_("timeline"))
    def timeline(self, obj: Referral) -> SafeString:
        """Every state change with when it happened, who or what did it, and when the portal heard of it."""
        prefetch_related_objects([obj], timeline_prefetch())  # the events only: the referral is already read
        return render_timeline(obj)

    @admin.display(description=_("replay"))
    def replay_table(self, obj: Referral) -> SafeString:
        return render_replay(obj)

    @admin.display(description=_("terms"))
    def terms_table(self, obj: Referral) -> SafeString:
        return render_terms(obj)

    @admin.display(description=_("signals"))
    def signals_table(self, obj: Referral) -> SafeString:
        return render_signals(obj.signals)

    @admin.display(description=_("signals"))
    def medium_signals(self, obj: Referral) -> str:
        """The strong and medium signals the automatic decisions stored (sign-up, then first order)."""
        signals = obj.signals or {}
        first_order = signals.get("first_order") or {}
        codes = [
            *signals.get("strong", []),
            *signals.get("medium", []),
            *first_order.get("strong", []),
            *first_order.get("medium", []),
        ]
        return ", ".join(dict.fromkeys(codes)) or "—"

    @admin.display(description=_("reward coupon"))
    def reward_coupon_display(self, obj: Referral) -> str:
        coupon = Coupon.objects.filter(referral=obj).first()
        if coupon is None:
            return "—"
        return gettext("%(coupon)s — %(status)s, issued %(date)s") % {
            "coupon": coupon,
            "status": coupon.get_status_display(),
            "date": f"{coupon.issued_at:%Y-%m-%d %H:%M}",
        }


@admin.register(Referral)
class ReferralAdmin(BaseReferralAdmin):
    list_display = [
        "id",
        "referrer",
        "friend",
        "state",
        "reason_code",
        "channel",
        "registered_at",
        "completed_at",
        "credited_at",
    ]
    list_filter = ["state", "reason_code", "channel", "registered_at"]
    actions = ["approve_reviews", "reject_reviews", "credit_manually", "void_reward_coupon", "rerun_eligibility"]


# An index skip scan: the first code under review, then the next one above it, until none (one probe per code).
_QUEUE_REASON_CODES_SQL = """
WITH RECURSIVE codes(code) AS (
    (SELECT reason_code FROM referrals_referral WHERE state = %s AND reason_code > '' ORDER BY reason_code LIMIT 1)
    UNION ALL
    SELECT (SELECT r.reason_code FROM referrals_referral r WHERE r.state = %s AND r.reason_code > codes.code
            ORDER BY r.reason_code LIMIT 1)
    FROM codes WHERE codes.code IS NOT NULL
)
SELECT code FROM codes WHERE code IS NOT NULL
"""


class QueueReasonFilter(admin.SimpleListFilter):
    """The reason codes present in the review queue (what `AllValuesFieldListFilter` listed), read on PostgreSQL
    by skipping through `referral_state_reason_idx` one code at a time (a recursive query: one index probe per
    distinct code) rather than a DISTINCT over every referral under review."""

    title = Referral._meta.get_field("reason_code").verbose_name
    parameter_name = "reason_code__exact"

    def lookups(self, request, model_admin):
        state, db = ReferralState.UNDER_REVIEW, model_admin.model.objects.db
        connection = connections[db]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_QUEUE_REASON_CODES_SQL, [state, state])
                codes = [row[0] for row in cursor.fetchall()]
        else:
            codes = list(
                Referral.objects.using(db)
                .filter(state=state)
                .exclude(reason_code="")
                .values_list("reason_code", flat=True)
                .distinct()
                .order_by("reason_code")
            )
        return [(code, code) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(reason_code=self.value()) if self.value() else queryset


@admin.register(ReferralReview)
class ReferralReviewAdmin(BaseReferralAdmin):
    """The fraud review queue: under review only, oldest first, with the stored signals."""

    # Narrow enough for a laptop screen: the wait says when it registered; channel is on the referral page.
    list_display = ["id", "friend", "referrer", "reason_code", "waiting", "medium_signals"]
    list_display_links = ["id", "friend"]
    # Only the codes present in the queue, not every reason code of the program.
    list_filter = [QueueReasonFilter]
    # The changelist puts the admin's ordering (else the model's, newest registration first) before the
    # queryset's: without this the queue listed the newest registrations first and sorted under review rows
    # by registration date; now oldest request first, read in order from referral_review_queue_idx.
    ordering = ["review_requested_at", "registered_at", "id"]
    actions = ["approve_reviews", "reject_reviews", "rerun_eligibility"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(state=ReferralState.UNDER_REVIEW)
            .order_by("review_requested_at", "registered_at", "id")
        )

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or self.has_review_permission(request)

    def changelist_view(self, request, extra_context=None):
        # The queue needs its width (Waiting and Signals at 1280 px): no app menu beside it.
        return super().changelist_view(request, {**(extra_context or {}), "is_nav_sidebar_enabled": False})

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append((_("Referrer's behaviour (all their friends)"), {"fields": ["referrer_behaviour"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "referrer_behaviour"]

    @admin.display(description=_("referrer's behaviour"))
    def referrer_behaviour(self, obj: Referral) -> SafeString:
        return render_behaviour(obj.referrer)

    @admin.display(description=_("waiting"), ordering="review_requested_at")
    def waiting(self, obj: Referral) -> str:
        age = timezone.now() - (obj.review_requested_at or obj.registered_at)
        if age > REVIEW_ALERT_AFTER:
            return format_html(
                '<strong class="staff-overdue">{}</strong><br>{}',
                duration(age),
                gettext("over %(hours)s h") % {"hours": hours(REVIEW_ALERT_AFTER)},
            )
        return duration(age)
