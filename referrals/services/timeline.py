"""The one way a referral changes state: a conditional UPDATE plus its timeline row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from lib import sqlonce
from lib.errors import DomainError
from lib.masking import redact_contacts
from referrals.models import Referral, ReferralEvent
from referrals.reasons import TERMINAL_STATES, ReferralState


class InvalidTransition(DomainError):
    """The referral is not in a state that allows this change."""

    code = "INVALID_REFERRAL_TRANSITION"


@transaction.atomic(savepoint=False)  # a conditional UPDATE and an INSERT: nothing to roll back alone
def transition(
    *,
    referral: Referral,
    to_state: str,
    from_states: Iterable[str],
    reason_code: str = "",
    occurred_at: datetime | None = None,
    actor: User | None = None,
    actor_kind: str = ReferralEvent.Actor.SYSTEM,
    note: str = "",
    **fields,
) -> bool:
    """Move `referral` to `to_state` only if it is in one of `from_states`; returns False otherwise.

    Claimed with a conditional UPDATE, so two workers racing for the same
    change cannot both make it. `fields` are extra columns set in the same UPDATE.
    """
    now = timezone.now()
    occurred_at = occurred_at or now
    values = {"state": to_state, "updated_at": now, **fields}
    if reason_code or to_state in TERMINAL_STATES:
        values["reason_code"] = reason_code
    if to_state in TERMINAL_STATES:
        values.setdefault("decided_at", occurred_at)
    updated = Referral.objects.filter(pk=referral.pk, state__in=list(from_states)).update(**values)
    if not updated:
        return False
    from_state = referral.state
    for name, value in values.items():
        setattr(referral, name, value)
    sqlonce.insert(
        ReferralEvent(
            referral=referral,
            from_state=from_state,
            to_state=to_state,
            reason_code=reason_code,
            actor=actor,
            actor_kind=actor_kind,
            note=redact_contacts(note)[:500],
            occurred_at=occurred_at,
            recorded_at=now,
        )
    )
    return True


def record_start(*, referral: Referral, occurred_at: datetime | None = None, note: str = "") -> ReferralEvent:
    """The first timeline row of a referral (its initial state, with any reason)."""
    return ReferralEvent.objects.create(
        referral=referral,
        from_state="",
        to_state=referral.state,
        reason_code=referral.reason_code,
        occurred_at=occurred_at or referral.registered_at,
        note=redact_contacts(note)[:500],
    )


def record_note(
    *,
    referral: Referral,
    note: str,
    occurred_at: datetime | None = None,
    reason_code: str = "",
    actor: User | None = None,
    actor_kind: str = ReferralEvent.Actor.SYSTEM,
) -> ReferralEvent:
    """A timeline row that changes no state (a late event, a re-run, a refused swap): what staff should read."""
    return ReferralEvent.objects.create(
        referral=referral,
        from_state=referral.state,
        to_state=referral.state,
        reason_code=reason_code,
        actor=actor,
        actor_kind=actor_kind,
        occurred_at=occurred_at or timezone.now(),
        note=redact_contacts(note)[:500],
    )


__all__ = ["InvalidTransition", "ReferralState", "record_note", "record_start", "transition"]
