"""Staff-only write use cases on referrals: re-run eligibility (evidence only), enable or disable a code."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import AccountDevice, IPSighting, User
from referrals.eligibility import decide
from referrals.models import Referral, ReferralCode, ReferralEvent
from referrals.selectors.facts import signup_facts
from referrals.services.timeline import record_note


@transaction.atomic
def rerun_eligibility(*, referral: Referral, actor: User) -> dict:
    """Re-apply `referrals.eligibility.decide` to today's facts of the friend's sign-up; records, changes no state.

    1. rebuild the sign-up facts: the friend's sign-up device and IP sighting (hashes, country,
       browser), the click time (or the sign-up time for a typed code);
    2. decide, and store the outcome under `signals["rerun"]` (the original decision stays as it was);
    3. append a timeline note (same state before and after) naming the outcome and the staff member.
    Returns the stored outcome: {"outcome", "reason_code", "signals", "at", "by", "differs"}.
    """
    locked = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("friend", "referrer", "click")
        .get(pk=referral.pk)
    )
    friend = locked.friend
    sighting = IPSighting.objects.filter(user=friend, kind="signup").order_by("seen_at", "pk").first()
    link = AccountDevice.objects.filter(user=friend).select_related("device").order_by("first_seen_at", "pk").first()
    facts = signup_facts(
        friend=friend,
        referrer=locked.referrer,
        device_hash=link.device.id_hash if link else "",
        ip_hash=sighting.ip_hash if sighting else "",
        ip_country=sighting.ip_country if sighting else "",
        user_agent=sighting.user_agent if sighting else "",
        arrived_at=locked.click.clicked_at if locked.click else friend.date_joined,
    )
    decision = decide(facts)
    if decision is None:  # only a sign-up without a referrer has no decision; a referral always has one
        raise ValueError(f"referral {locked.pk} has no referrer to decide against")
    stored_outcome = {"under_review": "under_review", "rejected": "rejected"}.get(locked.state, "allowed")
    result = {
        "outcome": decision.outcome,
        "reason_code": decision.reason_code,
        "signals": decision.signals,
        "at": timezone.now().isoformat(),
        "by": getattr(actor, "email", ""),
        # Compared with the state the referral is in (the automatic decision, or what came after it).
        "differs": decision.outcome != stored_outcome or decision.reason_code != (locked.reason_code or ""),
    }
    signals = dict(locked.signals or {})
    signals["rerun"] = result
    Referral.objects.filter(pk=locked.pk).update(signals=signals, updated_at=timezone.now())
    referral.signals = signals
    record_note(
        referral=locked,
        reason_code=decision.reason_code,
        actor=actor,
        actor_kind=ReferralEvent.Actor.STAFF,
        note=f"Eligibility re-run: {decision.outcome}"
        + (f" ({decision.reason_code})" if decision.reason_code else "")
        + "; state unchanged",
    )
    return result


@transaction.atomic
def set_code_active(*, code: ReferralCode, is_active: bool) -> bool:
    """Enable or disable a referral code; True when it changed (a disabled code lands on normal sign-up)."""
    changed = ReferralCode.objects.filter(pk=code.pk).exclude(is_active=is_active).update(is_active=is_active)
    code.is_active = is_active
    return bool(changed)
