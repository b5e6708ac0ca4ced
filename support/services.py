"""Write use cases of support requests."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.levels import support_priority_for
from accounts.models import User
from lib.errors import DomainError
from referrals.explain import explain
from referrals.models import Referral
from referrals.program import SUPPORT_AFTER, hours_text
from referrals.reasons import staff_label
from support.models import OPEN_STATUSES, SupportRequest


class RequestNotAllowed(DomainError):
    """The referral is not in a situation where the member may open a request (message for the member)."""

    code = "REQUEST_NOT_ALLOWED"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def build_evidence(referral: Referral) -> dict:
    """What support needs to decide, gathered from the referral: link share, sign-up, first order, deciding rule."""
    click = referral.click
    order = referral.first_order
    signals = referral.signals or {}
    return {
        "referral_id": referral.pk,
        "state": referral.state,
        "state_label": referral.get_state_display(),
        "reason_code": referral.reason_code,
        "reason_label": staff_label(referral.reason_code) if referral.reason_code else "",
        "share_channel": referral.channel,
        "share_channel_label": referral.get_channel_display(),
        "link_clicked_at": _iso(click.clicked_at) if click else None,
        "friend_signed_up_at": _iso(referral.registered_at),
        "first_order": order.external_id if order else None,
        "first_order_placed_at": _iso(referral.order_placed_at),
        "first_order_completed_at": _iso(referral.completed_at),
        "credit_due_at": _iso(referral.credit_due_at),
        "decided_at": _iso(referral.decided_at),
        # Names of the signals and their short values only: enough to explain, no raw identifiers.
        "signals_summary": {
            str(k): (v if isinstance(v, bool | int | float) else str(v)[:80]) for k, v in signals.items()
        },
        "timeline": [
            {
                "at": _iso(e.occurred_at),
                "from": e.from_state,
                "to": e.to_state,
                "reason_code": e.reason_code,
            }
            for e in referral.events.order_by("occurred_at", "id")
        ],
    }


def _existing_open(referral: Referral) -> SupportRequest | None:
    return SupportRequest.objects.filter(referral=referral, status__in=OPEN_STATUSES).order_by("created_at").first()


def open_referral_request(
    *, member: User, referral_id: int, message: str = "", now: datetime | None = None
) -> tuple[SupportRequest, bool]:
    """Open at most one request per referral, with its evidence attached; a repeat returns the open one.

    Raises Referral.DoesNotExist for another member's referral and RequestNotAllowed
    when the referral's state gives no reason to ask (checked again here, whatever the page showed).
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Locking the referral serialises double clicks on PostgreSQL; the partial unique
        # constraint backs it everywhere else.
        referral = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("click", "first_order")
            .get(pk=referral_id, referrer=member)
        )
        existing = _existing_open(referral)
        if existing:
            return existing, False
        decision = explain(referral, now=now)
        if not decision.can_request_support:
            if decision.is_delayed:
                raise RequestNotAllowed(
                    _(
                        "Your coupon is late, and we are on it. You can ask support %(hours)s after "
                        "your friend's order completed."
                    )
                    % {"hours": hours_text(SUPPORT_AFTER)}
                )
            raise RequestNotAllowed(_("This referral has nothing for support to look at right now."))
        try:
            with transaction.atomic():
                request = SupportRequest.objects.create(
                    member=member,
                    referral=referral,
                    kind=decision.support_kind,
                    message=message[:2000],
                    evidence=build_evidence(referral),
                    created_at=now,
                    # Diamond members' requests come first in the staff queue (docs/program-rules.md section 8).
                    priority=support_priority_for(member=member),
                )
            return request, True
        except IntegrityError:
            existing = _existing_open(referral)
            if existing is None:
                raise
            return existing, False


def open_appeal(*, member: User, message: str, now: datetime | None = None) -> tuple[SupportRequest, bool]:
    """A flagged or suspended member's appeal, with their message: at most one open at a time (a repeat returns
    the open one). The member's status and since when are attached for staff; the flag's reason is not shown to
    the member anywhere (docs/program-rules.md G5)."""
    now = now or timezone.now()
    with transaction.atomic():
        # Serialises two appeals sent at once by the same member.
        User.objects.select_for_update().filter(pk=member.pk).first()
        existing = (
            SupportRequest.objects.filter(member=member, kind=SupportRequest.Kind.APPEAL, status__in=OPEN_STATUSES)
            .order_by("created_at")
            .first()
        )
        if existing is not None:
            return existing, False
        request = SupportRequest.objects.create(
            member=member,
            kind=SupportRequest.Kind.APPEAL,
            message=message[:2000],
            evidence={
                "account_status": member.status,
                "status_changed_at": _iso(getattr(member, "status_changed_at", None)),
            },
            created_at=now,
            priority=support_priority_for(member=member),
        )
        return request, True
