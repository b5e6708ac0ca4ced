"""The audited staff actions on referrals, shared by the referral list and the review queue.

Each action calls a service (review, crediting, coupon voiding, eligibility re-run);
`support.admin.staff_actions.run_staff_action` asks for the reason and writes the audit row.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from coupons.models import Coupon
from coupons.services import void_coupon
from referrals.models import Referral
from referrals.reasons import ReasonCode, ReferralState, staff_label
from referrals.services import crediting, staff
from referrals.services.review import approve_review, reject_review
from support.admin.staff_actions import ActionRefused, OptionalNoteForm, ReasonForm, run_staff_action

# Reason codes staff may give when rejecting a review (the rule they saw, or their own decision).
REVIEW_REJECT_CODES = [
    ReasonCode.STAFF_REJECTED,
    ReasonCode.SELF_REFERRAL,
    ReasonCode.ALREADY_REGISTERED,
    ReasonCode.DEVICE_LIMIT,
    ReasonCode.SHARED_PAYMENT_METHOD,
    ReasonCode.SHARED_IP_AND_AGENT,
    ReasonCode.REGION_MISMATCH,
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
        choices=[(code.value, f"{staff_label(code)} ({code.value})") for code in REVIEW_REJECT_CODES],
        initial=ReasonCode.STAFF_REJECTED,
        help_text="The member sees this reason in plain words.",
    )
    field_order = ["reason_code", "reason"]


def _approve(obj: Referral, data: dict, request: HttpRequest) -> dict:
    if obj.state != ReferralState.UNDER_REVIEW:
        raise ActionRefused(f"not under review (it is {obj.get_state_display().lower()})")
    approve_review(referral=obj, actor=request.user, note=data["reason"])
    obj.refresh_from_db(fields=["state", "reason_code"])
    return {"from_state": ReferralState.UNDER_REVIEW, "to_state": obj.state}


def _reject(obj: Referral, data: dict, request: HttpRequest) -> dict:
    if obj.state != ReferralState.UNDER_REVIEW:
        raise ActionRefused(f"not under review (it is {obj.get_state_display().lower()})")
    reject_review(referral=obj, actor=request.user, reason_code=data["reason_code"], note=data["reason"])
    obj.refresh_from_db(fields=["state", "reason_code"])
    return {"reason_code": data["reason_code"], "to_state": obj.state}


def _credit(obj: Referral, data: dict, request: HttpRequest) -> dict:
    before = obj.state
    coupon = crediting.credit_manually(referral=obj, actor=request.user, reason=data["reason"])
    obj.refresh_from_db(fields=["state"])
    return {"from_state": before, "to_state": obj.state, "coupon_id": getattr(coupon, "pk", None)}


def _void_reward(obj: Referral, data: dict, request: HttpRequest) -> dict:
    coupon = Coupon.objects.filter(referral=obj).first()
    if coupon is None:
        raise ActionRefused("no reward coupon to void")
    if not coupon.is_voidable:
        raise ActionRefused(f"its reward coupon is {coupon.get_status_display().lower()}, not active")
    void_coupon(coupon=coupon, actor=request.user, reason=data["reason"])
    return {"coupon_id": coupon.pk, "value": str(coupon.value), "currency": coupon.currency}


def _rerun(obj: Referral, data: dict, request: HttpRequest) -> dict:
    result = staff.rerun_eligibility(referral=obj, actor=request.user)
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
