"""Coupons staff issue by hand, bounded (docs/program-rules.md section 10): at most the member's region ceiling,
never to one's own account, and above the region's approval threshold only once a second staff member approves
(four eyes). The caller writes the audit rows (support.admin.staff_actions) in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponSource, ManualCouponRequest
from coupons.services.issuing import issue_coupon
from lib.errors import DomainError
from orders.models import Store


class ManualCouponRefused(DomainError):
    """A manual coupon staff may not issue or approve; the message says why."""

    code = "MANUAL_COUPON_REFUSED"


@dataclass(frozen=True)
class ManualCouponDraft:
    member: User
    kind: str
    value: Decimal
    min_spend: Decimal
    currency: str
    valid_days: int
    reason: str
    token: str
    title: str = ""
    store: Store | None = None


def _check_bounds(*, actor: User, draft: ManualCouponDraft) -> Decimal:
    """Refuse what no staff member may hand out; returns the region's approval threshold."""
    if actor.pk == draft.member.pk:
        raise ManualCouponRefused(_("Nobody issues a coupon to their own account: ask another staff member."))
    region = region_for_country(str(draft.member.country))
    if draft.currency != region.currency:
        raise ManualCouponRefused(
            _("Coupons for members in %(region)s are in %(currency)s.")
            % {"region": region.name, "currency": region.currency}
        )
    if draft.value > region.manual_coupon_ceiling:
        raise ManualCouponRefused(
            _("At most %(ceiling)s %(currency)s per manual coupon in %(region)s.")
            % {"ceiling": region.manual_coupon_ceiling, "currency": region.currency, "region": region.name}
        )
    return region.manual_coupon_approval_above


def _issue(*, draft: ManualCouponDraft, actor: User, reason: str) -> Coupon:
    return issue_coupon(
        member=draft.member,
        source=CouponSource.MANUAL,
        kind=draft.kind,
        title=draft.title,
        value=draft.value,
        min_spend=draft.min_spend,
        currency=draft.currency,
        valid_days=draft.valid_days,
        store=draft.store,
        idempotency_key=f"manual:{draft.token}",
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def issue_manual_coupon(*, actor: User, draft: ManualCouponDraft) -> Coupon | ManualCouponRequest:
    """Issue within the bounds; above the approval threshold, store a request for a second staff member instead."""
    threshold = _check_bounds(actor=actor, draft=draft)
    if draft.value <= threshold:
        return _issue(draft=draft, actor=actor, reason=draft.reason)
    request, _created = ManualCouponRequest.objects.get_or_create(
        token=draft.token,
        defaults={
            "requested_by": actor,
            "member": draft.member,
            "kind": draft.kind,
            "title": draft.title,
            "store": draft.store,
            "value": draft.value,
            "min_spend": draft.min_spend,
            "currency": draft.currency,
            "valid_days": draft.valid_days,
            "reason": draft.reason,
        },
    )
    return request


def _locked_pending(*, request_id: int, decider: User) -> ManualCouponRequest:
    request = ManualCouponRequest.objects.select_for_update().select_related("member").get(pk=request_id)
    if request.status != ManualCouponRequest.Status.PENDING:
        raise ManualCouponRefused(_("This request was already decided."))
    if decider.pk == request.requested_by_id:
        raise ManualCouponRefused(_("A second staff member must decide: you asked for this coupon."))
    if decider.pk == request.member_id:
        raise ManualCouponRefused(_("Nobody approves a coupon for their own account."))
    return request


@transaction.atomic
def approve_manual_coupon(*, request_id: int, approver: User, note: str = "") -> Coupon:
    """A second staff member approves: the coupon is issued now (within today's ceiling), once."""
    request = _locked_pending(request_id=request_id, decider=approver)
    draft = ManualCouponDraft(
        member=request.member,
        kind=request.kind,
        title=request.title,
        store=request.store,
        value=request.value,
        min_spend=request.min_spend,
        currency=request.currency,
        valid_days=request.valid_days,
        reason=request.reason,
        token=request.token,
    )
    _check_bounds(actor=request.requested_by, draft=draft)
    coupon = _issue(
        draft=draft,
        actor=request.requested_by,
        reason=f"{request.reason} (approved by {approver.get_username()})"[:300],
    )
    request.status = ManualCouponRequest.Status.APPROVED
    request.decided_by, request.decided_at, request.decision_note, request.coupon = (
        approver,
        timezone.now(),
        note,
        coupon,
    )
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "coupon"])
    return coupon


@transaction.atomic
def reject_manual_coupon(*, request_id: int, decider: User, note: str) -> ManualCouponRequest:
    """A second staff member refuses: no coupon ever exists for this request."""
    request = _locked_pending(request_id=request_id, decider=decider)
    request.status = ManualCouponRequest.Status.REJECTED
    request.decided_by, request.decided_at, request.decision_note = decider, timezone.now(), note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return request
