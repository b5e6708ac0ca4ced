"""The referral program in the support console: everything read-only, changes only through audited actions.

Actions call the services (review, crediting, coupon voiding, eligibility re-run);
`support.staff_actions.run_staff_action` asks for the reason and writes the audit row.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from referral_portal.admin_mixins import ReadOnlyAdminMixin
from referrals.models import Click, MonthlyRewardCounter, Referral, ReferralCode, ReferralEvent, ReferralReview
from referrals.reasons import ReasonCode, ReferralState
from support.staff_actions import ActionRefused, OptionalNoteForm, ReasonForm, run_staff_action

# Reason codes staff may give when rejecting a review (the rule they saw, or their own decision).
REVIEW_REJECT_CODES = [
    ReasonCode.STAFF_REJECTED,
    ReasonCode.SELF_REFERRAL,
    ReasonCode.ALREADY_REGISTERED,
    ReasonCode.DEVICE_LIMIT,
    ReasonCode.SHARED_PAYMENT_METHOD,
    ReasonCode.SHARED_IP_AND_AGENT,
    ReasonCode.SHARED_FINGERPRINT,
    ReasonCode.COUNTRY_SIGNAL_MISMATCH,
    ReasonCode.DISPOSABLE_EMAIL,
    ReasonCode.REFERRER_BURST,
    ReasonCode.IP_BURST,
]


class ApproveReviewForm(ReasonForm):
    reason = forms.CharField(
        label="Note",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What you checked and why the referral may continue. Kept in the timeline and the audit log.",
    )


class RejectReviewForm(ReasonForm):
    reason_code = forms.ChoiceField(
        label="Reason code",
        choices=[(code.value, f"{code.label} ({code.value})") for code in REVIEW_REJECT_CODES],
        initial=ReasonCode.STAFF_REJECTED,
        help_text="The member sees this reason in plain words.",
    )
    field_order = ["reason_code", "reason"]


def _label(code: str) -> str:
    try:
        return f"{ReasonCode(code).label} ({code})"
    except ValueError:
        return str(code)


def _flatten(prefix: str, value, rows: list) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    elif isinstance(value, list | tuple | set | frozenset):
        rows.append((prefix, ", ".join(str(v) for v in value) or "—", ""))
    elif isinstance(value, bool):
        rows.append((prefix, "yes" if value else "no", "warning" if value else ""))
    else:
        rows.append((prefix, "—" if value in (None, "") else str(value), ""))


def _decision_rows(signals: dict) -> list:
    rows = []
    for strength, tone in (("strong", "danger"), ("medium", "warning"), ("weak", "")):
        if strength in signals:
            codes = signals.get(strength) or []
            rows.append((strength, ", ".join(_label(c) for c in codes) or "none", tone if codes else ""))
    return rows


def signals_sections(signals: dict | None) -> list[dict]:
    """The stored signals as titled tables of (label, value, tone) rows, for people rather than JSON readers."""
    signals = dict(signals or {})
    if not signals:
        return []
    sections = []
    rerun = signals.pop("rerun", None)
    first_order = signals.pop("first_order", None)
    decision = _decision_rows(signals)
    if decision:
        sections.append({"title": "Automatic decision", "rows": decision})
    checks = signals.pop("checks", None)
    if checks:
        rows: list = []
        _flatten("", checks, rows)
        sections.append(
            {"title": "Checks against the referrer", "rows": [(k.replace("_", " "), v, t) for k, v, t in rows]}
        )
    facts = signals.pop("facts", None)
    if facts:
        rows = []
        _flatten("", facts, rows)
        sections.append({"title": "Facts read at sign-up", "rows": [(k.replace("_", " "), v, "") for k, v, _ in rows]})
    if isinstance(first_order, dict):
        sections.append(_first_order_section(first_order))
    other = {k: v for k, v in signals.items() if k not in ("strong", "medium", "weak")}
    if other:
        rows = []
        _flatten("", other, rows)
        sections.append({"title": "Other signals", "rows": rows})
    if isinstance(rerun, dict):
        rows = [
            (
                "outcome",
                f"{rerun.get('outcome')} {_label(rerun['reason_code']) if rerun.get('reason_code') else ''}",
                "",
            ),
            (
                "differs from the referral's state",
                "yes" if rerun.get("differs") else "no",
                "warning" if rerun.get("differs") else "",
            ),
            ("run at", rerun.get("at", ""), ""),
            ("run by", rerun.get("by", ""), ""),
            *_decision_rows(rerun.get("signals") or {}),
        ]
        sections.append({"title": "Last eligibility re-run (state unchanged)", "rows": rows})
    return sections


def _first_order_section(first_order: dict) -> dict:
    """The decision taken at the friend's first order (card links, referrer burst), with what it read."""
    reason = first_order.get("reason_code") or ""
    rows = [
        ("outcome", f"{first_order.get('outcome', '')} {_label(reason) if reason else ''}".strip(), ""),
        *_decision_rows(first_order),
    ]
    for key in ("checks", "facts"):
        found: list = []
        _flatten("", first_order.get(key) or {}, found)
        rows += [(label.replace("_", " "), value, tone) for label, value, tone in found]
    if first_order.get("checked_at"):
        rows.append(("checked at", first_order["checked_at"], ""))
    return {"title": "Decision at the first order", "rows": rows}


def render_signals(signals: dict | None) -> SafeString:
    return SafeString(render_to_string("admin/referrals/signals_table.html", {"sections": signals_sections(signals)}))


def render_behaviour(referrer) -> SafeString:
    """The referrer's behaviour panel (bursts, identical first orders, silent friends); read-only."""
    from referrals import selectors

    return SafeString(
        render_to_string(
            "admin/accounts/behaviour.html",
            {
                "b": selectors.referrer_behaviour(referrer=referrer, now=timezone.now()),
                "burst_limit": selectors.BURST_FLAG_ABOVE,
                "silent_min_friends": selectors.SILENT_MIN_FRIENDS,
                "silent_min_percent": int(selectors.SILENT_MIN_RATIO * 100),
            },
        )
    )


def render_timeline(referral: Referral) -> SafeString:
    # Reads the prefetched events (with their actors): no query per referral.
    return SafeString(render_to_string("admin/referrals/timeline.html", {"events": list(referral.events.all())}))


def timeline_prefetch() -> Prefetch:
    return Prefetch("events", queryset=ReferralEvent.objects.select_related("actor").order_by("occurred_at", "id"))


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


# --- Actions shared by the referral list and the review queue ------------------------------------------


def _approve(obj: Referral, data: dict, request) -> dict:
    from referrals.services.review import approve_review

    if obj.state != ReferralState.UNDER_REVIEW:
        raise ActionRefused(f"not under review (it is {obj.get_state_display().lower()})")
    approve_review(referral=obj, actor=request.user, note=data["reason"])
    obj.refresh_from_db(fields=["state", "reason_code"])
    return {"from_state": ReferralState.UNDER_REVIEW, "to_state": obj.state}


def _reject(obj: Referral, data: dict, request) -> dict:
    from referrals.services.review import reject_review

    if obj.state != ReferralState.UNDER_REVIEW:
        raise ActionRefused(f"not under review (it is {obj.get_state_display().lower()})")
    reject_review(referral=obj, actor=request.user, reason_code=data["reason_code"], note=data["reason"])
    obj.refresh_from_db(fields=["state", "reason_code"])
    return {"reason_code": data["reason_code"], "to_state": obj.state}


def _credit(obj: Referral, data: dict, request) -> dict:
    from referrals.services.crediting import credit_manually

    before = obj.state
    coupon = credit_manually(referral=obj, actor=request.user, reason=data["reason"])
    obj.refresh_from_db(fields=["state"])
    return {"from_state": before, "to_state": obj.state, "coupon_id": getattr(coupon, "pk", None)}


def _void_reward(obj: Referral, data: dict, request) -> dict:
    from coupons.models import Coupon
    from coupons.services import void_coupon

    coupon = Coupon.objects.filter(referral=obj).first()
    if coupon is None:
        raise ActionRefused("no reward coupon to void")
    if coupon.status != "active":
        raise ActionRefused(f"its reward coupon is {coupon.get_status_display().lower()}, not active")
    void_coupon(coupon=coupon, actor=request.user, reason=data["reason"])
    return {"coupon_id": coupon.pk, "value": str(coupon.value), "currency": coupon.currency}


def _rerun(obj: Referral, data: dict, request) -> dict:
    from referrals.services.staff import rerun_eligibility

    result = rerun_eligibility(referral=obj, actor=request.user)
    request._rerun_outcomes = [*getattr(request, "_rerun_outcomes", []), (obj, result)]
    return {"outcome": result["outcome"], "reason_code": result["reason_code"], "differs": result["differs"]}


class ReferralActionsMixin:
    """Audited actions on referrals; each checks its own permission."""

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("referrals.review_referral")

    def has_credit_permission(self, request) -> bool:
        return request.user.has_perm("referrals.credit_referral_manually")

    def has_rerun_permission(self, request) -> bool:
        return request.user.has_perm("referrals.rerun_eligibility")

    def has_void_permission(self, request) -> bool:
        return request.user.has_perm("accounts.void_coupon")

    @admin.action(permissions=["review"], description="Approve review (continue the referral)…")
    def approve_reviews(self, request, queryset):
        return run_staff_action(
            self,
            request,
            queryset,
            action="referral.approve_review",
            title="Approve referrals under review",
            intro="The referral continues as if no signal had fired; the friend gets the welcome package.",
            form_class=ApproveReviewForm,
            perform=lambda obj, data: _approve(obj, data, request),
            submit_label="Approve",
            done_message="{count} referral(s) approved.",
        )

    @admin.action(permissions=["review"], description="Reject review with a reason…")
    def reject_reviews(self, request, queryset):
        return run_staff_action(
            self,
            request,
            queryset,
            action="referral.reject_review",
            title="Reject referrals under review",
            intro="Rejected is final. The member sees the reason code in plain words.",
            form_class=RejectReviewForm,
            perform=lambda obj, data: _reject(obj, data, request),
            submit_label="Reject",
            done_message="{count} referral(s) rejected.",
        )

    @admin.action(permissions=["credit"], description="Credit by hand (even past the monthly limit)…")
    def credit_manually(self, request, queryset):
        return run_staff_action(
            self,
            request,
            queryset,
            action="referral.credit_manually",
            title="Credit referrals by hand",
            intro="Issues the referrer's reward coupon now, even past the monthly limit. "
            "The ledger row names you and your reason.",
            perform=lambda obj, data: _credit(obj, data, request),
            submit_label="Credit",
            done_message="{count} referral(s) credited.",
        )

    @admin.action(permissions=["void"], description="Void the reward coupon…")
    def void_reward_coupon(self, request, queryset):
        return run_staff_action(
            self,
            request,
            queryset,
            action="coupon.void",
            title="Void reward coupons",
            intro="Only unused (active) reward coupons can be voided. A voided coupon cannot be used.",
            perform=lambda obj, data: _void_reward(obj, data, request),
            submit_label="Void coupon",
            done_message="{count} reward coupon(s) voided.",
        )

    @admin.action(permissions=["rerun"], description="Re-run eligibility (shows the outcome, changes no state)…")
    def rerun_eligibility(self, request, queryset):
        response = run_staff_action(
            self,
            request,
            queryset,
            action="referral.rerun_eligibility",
            title="Re-run eligibility",
            intro="Applies today's rules to the stored sign-up facts. The outcome is added to the timeline and "
            "the signals; no state changes. Decide with the review actions if it should.",
            form_class=OptionalNoteForm,
            perform=lambda obj, data: _rerun(obj, data, request),
            submit_label="Re-run",
            done_message="Eligibility re-run for {count} referral(s).",
        )
        for referral, result in getattr(request, "_rerun_outcomes", []):
            verdict = result["outcome"] + (f" ({result['reason_code']})" if result["reason_code"] else "")
            changed = "differs from" if result["differs"] else "matches"
            self.message_user(
                request, f"Referral {referral.pk}: re-run says {verdict}; {changed} its state {referral.state}."
            )
        return response


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
        ("Signals (what the automatic decision read)", {"fields": ["signals_table"]}),
        ("Coupons", {"fields": ["reward_coupon_display"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Referral._meta.fields] + ["signals_table", "reward_coupon_display"]

    @admin.display(description="signals")
    def signals_table(self, obj: Referral) -> SafeString:
        return render_signals(obj.signals)

    @admin.display(description="reward coupon")
    def reward_coupon_display(self, obj: Referral) -> str:
        from coupons.models import Coupon

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
        from support.templatetags.staff import duration

        age = timezone.now() - (obj.review_requested_at or obj.registered_at)
        if age > timedelta(hours=24):
            return format_html('<strong class="staff-overdue">{}</strong><br>over 24 h', duration(age))
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


@admin.register(Click)
class ClickAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "referral_code", "channel", "clicked_at", "ip_country", "device"]
    list_filter = ["channel"]
    list_select_related = ["referral_code", "device"]
    search_fields = ["referral_code__code", "ip_hash"]
    date_hierarchy = "clicked_at"
    # Clicks are the largest table: no COUNT(*) of everything on each page.
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Click._meta.fields]


class SetCodeForm(ReasonForm):
    pass


@admin.register(ReferralCode)
class ReferralCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["code", "user", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["user"]
    search_fields = ["code", "user__email"]
    actions = ["disable_codes", "enable_codes"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ReferralCode._meta.fields]

    def has_toggle_permission(self, request) -> bool:
        return request.user.has_perm("referrals.change_referralcode")

    def _toggle(self, request, queryset, *, is_active: bool):
        from referrals.services.staff import set_code_active

        def perform(code, data):
            if not set_code_active(code=code, is_active=is_active):
                raise ActionRefused(f"already {'enabled' if is_active else 'disabled'}")
            return {"is_active": is_active}

        verb = "enable" if is_active else "disable"
        return run_staff_action(
            self,
            request,
            queryset,
            action=f"referral_code.{verb}",
            title=f"{verb.capitalize()} referral codes",
            intro=(
                "A disabled code still lands on the normal sign-up page but refers no one."
                if not is_active
                else "The code refers friends again from now on."
            ),
            perform=perform,
            form_class=SetCodeForm,
            submit_label=verb.capitalize(),
            done_message=f"{{count}} code(s) {verb}d.",
        )

    @admin.action(permissions=["toggle"], description="Disable code…")
    def disable_codes(self, request, queryset):
        return self._toggle(request, queryset, is_active=False)

    @admin.action(permissions=["toggle"], description="Enable code…")
    def enable_codes(self, request, queryset):
        return self._toggle(request, queryset, is_active=True)


@admin.register(MonthlyRewardCounter)
class MonthlyRewardCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["referrer", "month", "count"]
    list_select_related = ["referrer"]
    search_fields = ["referrer__email"]
    date_hierarchy = "month"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in MonthlyRewardCounter._meta.fields]
