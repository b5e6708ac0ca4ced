"""What the orders app refuses, as DomainErrors with a stable code and a sentence a person can read."""

from __future__ import annotations

from lib.errors import DomainError


class OrderError(DomainError):
    """An order could not be placed or changed."""

    code = "ORDER_ERROR"


class InvalidTransition(OrderError):
    """The order's history does not allow this transition (e.g. cancel after shipping)."""

    code = "INVALID_TRANSITION"


class InvalidOrder(OrderError):
    """The order itself is not acceptable (no lines, bad quantity, bad card label, duplicate id)."""

    code = "INVALID_ORDER"


class EventRefused(OrderError):
    """A shop event names something that does not exist or conflicts with what is recorded.

    `conflict` tells the interface how to answer: it contradicts what we hold (409), or it names what we don't
    know (422). Nothing of the event is stored, so the shop may send it again once it is fixed."""

    code = "EVENT_REFUSED"

    def __init__(self, message: str, *, code: str, conflict: bool = False) -> None:
        super().__init__(message, code=code)
        self.conflict = conflict
