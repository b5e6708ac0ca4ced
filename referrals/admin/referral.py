"""The referral list and the fraud review queue: read-only pages with the audited actions of `actions`."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from coupons.models import Coupon
from lib.admin import ReadOnlyAdminMixin
from referrals.admin.actions import ReferralActionsMixin
from referrals.admin.panels import render_behaviour
from referrals.admin.replay import render_replay
from referrals.admin.signals import render_signals
from referrals.admin.terms import render_terms
from referrals.models import Referral, ReferralEvent, ReferralReview
from referrals.program import REVIEW_ALERT_AFTER, hours
from referrals.reasons import ReferralState
from support.templatetags.staff import duration


class ReferralEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReferralEvent
    extra = 0
    can_delete = False
    verbose_name_plural = "timeline"
    fields = ["occurred_at", "from_state", "to_state", "reason_code", "actor_kind", "actor", "note", "recorded_at"]
    readonly_fields = fields
    ordering = ["occurred_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_view_permission(self, request, obj=None) -> bool:
        # The timeline is part of the referral: whoever may see the referral (or the queue) sees it.
        user = request.user
        return any(
            user.has_perm(p)
            for p in ("referrals.view_referral", "referrals.view_referralreview", "referrals.review_referral")
        )


class BaseReferralAdmin(ReferralActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_select_related = ["referrer", "friend"]
    search_fields = ["referrer__email", "friend__email", "code__code"]
    search_help_text = "Referrer's or friend's e-mail, or the referral code."
    inlines = [ReferralEventInline]
    fieldsets = [
        (None, {"fields": ["referrer", "friend", "code", "channel", "click", "state", "reason_code"]}),
        (
            "Dates",
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
        ("Signals (what the automatic decision read)", {"fields": ["signals_table"]}),
        (_("Replay under today's rules (no state change)"), {"fields": ["replay_table"]}),
        ("Coupons", {"fields": ["reward_coupon_display"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Referral._meta.fields] + [
            "terms_table",
            "signals_table",
            "replay_table",
            "reward_coupon_display",
        ]

    @admin.display(description=_("replay"))
    def replay_table(self, obj: Referral) -> SafeString:
        return render_replay(obj)

    @admin.display(description=_("terms"))
    def terms_table(self, obj: Referral) -> SafeString:
        return render_terms(obj)

    @admin.display(description="signals")
    def signals_table(self, obj: Referral) -> SafeString:
        return render_signals(obj.signals)

    @admin.display(description="reward coupon")
    def reward_coupon_display(self, obj: Referral) -> str:
        coupon = Coupon.objects.filter(referral=obj).first()
        if coupon is None:
            return "—"
        return f"{coupon} — {coupon.get_status_display()}, issued {coupon.issued_at:%Y-%m-%d %H:%M}"


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
    date_hierarchy = "registered_at"
    actions = ["approve_reviews", "reject_reviews", "credit_manually", "void_reward_coupon", "rerun_eligibility"]


@admin.register(ReferralReview)
class ReferralReviewAdmin(BaseReferralAdmin):
    """The fraud review queue: under review only, oldest first, with the stored signals."""

    # Narrow enough for a laptop screen: the wait says when it registered; channel is on the referral page.
    list_display = ["id", "friend", "referrer", "reason_code", "waiting", "medium_signals"]
    list_display_links = ["id", "friend"]
    # Only the codes present in the queue, not every reason code of the program.
    list_filter = [("reason_code", admin.AllValuesFieldListFilter)]
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

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Referrer's behaviour (all their friends)", {"fields": ["referrer_behaviour"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "referrer_behaviour"]

    @admin.display(description="referrer's behaviour")
    def referrer_behaviour(self, obj: Referral) -> SafeString:
        return render_behaviour(obj.referrer)

    @admin.display(description="waiting", ordering="review_requested_at")
    def waiting(self, obj: Referral) -> str:
        age = timezone.now() - (obj.review_requested_at or obj.registered_at)
        if age > REVIEW_ALERT_AFTER:
            return format_html(
                '<strong class="staff-overdue">{}</strong><br>over {} h', duration(age), hours(REVIEW_ALERT_AFTER)
            )
        return duration(age)

    @admin.display(description="signals")
    def medium_signals(self, obj: Referral) -> str:
        signals = obj.signals or {}
        first_order = signals.get("first_order") or {}
        codes = [
            *signals.get("strong", []),
            *signals.get("medium", []),
            *first_order.get("strong", []),
            *first_order.get("medium", []),
        ]
        return ", ".join(dict.fromkeys(codes)) or "—"
