"""Which referral changes receivers hear of, and what an event says: pure rules over a timeline row.

A timeline row (referrals.ReferralEvent) is written in the same transaction as the change it records, so a
change that commits always has its row, and a change rolled back has none. An event's payload names ids, states
and amounts only: never a name, an e-mail or an IP (docs/outbound-events.md).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from outbound.models import EventType
from referrals.reasons import ReferralState

# The states whose arrival is an event (a start of the timeline is `joined`; a credited reward voided is `reversed`).
STATE_EVENTS: dict[str, str] = {
    ReferralState.QUALIFIED: EventType.QUALIFIED,
    ReferralState.CREDITED: EventType.CREDITED,
    ReferralState.CAPPED: EventType.CAPPED,
    ReferralState.VOIDED: EventType.VOIDED,
    ReferralState.REJECTED: EventType.REJECTED,
}
EVENT_STATES = tuple(STATE_EVENTS)


def event_types_for(*, from_state: str, to_state: str) -> list[str]:
    """The event types one timeline row gives (none for a note that changes no state)."""
    if not from_state:
        return [EventType.JOINED.value] + ([EventType.REJECTED.value] if to_state == ReferralState.REJECTED else [])
    if from_state == to_state or to_state not in STATE_EVENTS:
        return []
    if to_state == ReferralState.VOIDED and from_state == ReferralState.CREDITED:
        return [EventType.REVERSED.value]
    return [STATE_EVENTS[to_state]]


def event_payload(
    *,
    event_id: int,
    event_type: str,
    occurred_at: datetime,
    created_at: datetime,
    referral_id: int,
    referrer_id: int,
    friend_id: int,
    state: str,
    reason_code: str,
    channel: str,
    reward: tuple[int, Decimal, str] | None = None,
) -> dict[str, Any]:
    """The JSON body receivers get (docs/outbound-events.openapi.yaml, schema ReferralEvent)."""
    data: dict[str, Any] = {
        "referral_id": referral_id,
        "referrer_id": referrer_id,
        "friend_id": friend_id,
        "state": state,
        "reason_code": reason_code or None,
        "channel": channel,
    }
    if reward is not None:
        coupon_id, value, currency = reward
        data["reward"] = {"coupon_id": coupon_id, "value": f"{value:.2f}", "currency": currency}
    return {
        "id": f"evt_{event_id}",
        "type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "created_at": created_at.isoformat(),
        "data": data,
    }
