"""Signed order events from the external shop: signature check and payload parsing, both pure.

Header (see docs/order-events.md):

    Shop-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Several `v1=` values may be sent (one per secret during a rotation); one match
with any configured secret is enough. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from lib.errors import DomainError

SIGNATURE_HEADER = "Shop-Signature"
EVENT_TYPES = (
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.completed",
    "order.canceled",
    "order.refunded",
)


class WebhookError(DomainError):
    """A refused request: HTTP status, a machine code and a message for the integrator."""

    def __init__(self, status: int, code: str, message: str, *, details: dict | None = None) -> None:
        super().__init__(message, code=code)
        self.status, self.details = status, details or {}

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class SignatureError(WebhookError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(401, code, message)


def compute_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<raw body>" under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(*, body: bytes, secret: str | Sequence[str], timestamp: int | None = None) -> str:
    """The Shop-Signature header value for `body` (one v1 per secret)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    secrets = [secret] if isinstance(secret, str) else list(secret)
    parts = [f"t={timestamp}"] + [f"v1={compute_signature(secret=s, timestamp=timestamp, body=body)}" for s in secrets]
    return ",".join(parts)


def verify_signature(
    *, header: str | None, body: bytes, secrets: Sequence[str], tolerance: int, now: float | None = None
) -> int:
    """Check the header against the raw body; returns its timestamp or raises SignatureError.

    Constant-time comparison (hmac.compare_digest) with every configured secret;
    the timestamp must be within `tolerance` seconds of `now`, in either direction.
    """
    if not header:
        raise SignatureError("signature_missing", f"The {SIGNATURE_HEADER} header is required.")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("signature_malformed", f"{SIGNATURE_HEADER} must look like t=<unix>,v1=<hex>.")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("signature_malformed", "The t= value must be unix seconds.") from None
        elif key == "v1":
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise SignatureError("signature_malformed", f"{SIGNATURE_HEADER} must look like t=<unix>,v1=<hex>.")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            "timestamp_out_of_tolerance", f"The signature timestamp is more than {tolerance} s away from now."
        )
    if not secrets:
        raise SignatureError("signature_mismatch", "No secret is configured to verify order events.")
    expected = [compute_signature(secret=s, timestamp=timestamp, body=body) for s in secrets]
    # Compare every pair (no early exit on the first match) so timing reveals nothing.
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(candidate.encode(), digest.encode())
    if not matched:
        raise SignatureError("signature_mismatch", "The signature does not match the body.")
    return timestamp


# --- Payload ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLine:
    store: str
    name: str
    quantity: int
    unit_price: Decimal
    sale_price: Decimal | None = None


@dataclass(frozen=True)
class OrderEventData:
    event_id: str
    type: str
    occurred_at: datetime
    order_id: str
    payload: dict
    member_email: str = ""
    lines: list[EventLine] = field(default_factory=list)
    total: Decimal | None = None
    currency: str = "USD"
    card_fingerprint: str = ""

    @property
    def transition(self) -> str:
        return self.type.removeprefix("order.")


def check_not_in_future(event: OrderEventData, *, now: datetime, tolerance: int) -> None:
    """An event cannot have happened later than now plus the signature tolerance (the clocks' accepted skew):
    refused with 422, so a referral never waits for a date the shop has not reached yet."""
    latest = now + timedelta(seconds=tolerance)
    if event.occurred_at > latest:
        raise WebhookError(
            422,
            "occurred_in_future",
            f"occurred_at {event.occurred_at.isoformat()} is later than now plus {tolerance} s "
            f"({latest.isoformat()}): send the event once it has happened.",
            details={"field": "occurred_at", "latest_accepted": latest.isoformat()},
        )


def _bad(code: str, message: str, **details) -> WebhookError:
    return WebhookError(400, code, message, details=details)


def _text(data: dict, key: str, *, max_length: int, where: str = "") -> str:
    value = data.get(key)
    name = f"{where}{key}"
    if value is None or value == "":
        raise _bad("missing_field", f"{name} is required.", field=name)
    if not isinstance(value, str) or len(value) > max_length:
        raise _bad("invalid_field", f"{name} must be a string of at most {max_length} characters.", field=name)
    return value.strip()


def _money(value: object, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _bad("invalid_field", f'{name} must be a decimal amount like "12.50".', field=name) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount > 10**8:
        raise _bad("invalid_field", f"{name} must be a non-negative amount with at most 2 decimals.", field=name)
    return amount


def _optional_money(value: object, name: str) -> Decimal | None:
    return None if value is None else _money(value, name)


def parse_event(body: bytes) -> OrderEventData:
    """Parse and validate a verified body; raises WebhookError(400) naming the bad field."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("malformed_json", "The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise _bad("malformed_json", "The body must be a JSON object.")
    event_id = _text(data, "id", max_length=100)
    event_type = _text(data, "type", max_length=30)
    if event_type not in EVENT_TYPES:
        raise _bad("unknown_event_type", f"type must be one of {', '.join(EVENT_TYPES)}.", field="type")
    raw_occurred = _text(data, "occurred_at", max_length=40)
    try:
        occurred_at = datetime.fromisoformat(raw_occurred.replace("Z", "+00:00"))
    except ValueError:
        raise _bad("invalid_field", "occurred_at must be an ISO 8601 date-time.", field="occurred_at") from None
    if occurred_at.tzinfo is None:
        raise _bad("invalid_field", "occurred_at needs a time zone (e.g. Z or +00:00).", field="occurred_at")
    order = data.get("order")
    if not isinstance(order, dict):
        raise _bad("missing_field", "order is required (an object with at least id).", field="order")
    order_id = _text(order, "id", max_length=64, where="order.")
    event = OrderEventData(event_id=event_id, type=event_type, occurred_at=occurred_at, order_id=order_id, payload=data)
    if event_type != "order.placed":
        return event

    member = data.get("member")
    if not isinstance(member, dict):
        raise _bad("missing_field", "member is required for order.placed (an object with email).", field="member")
    email = _text(member, "email", max_length=254, where="member.")
    raw_lines = order.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise _bad("missing_field", "order.lines must be a non-empty list.", field="order.lines")
    if len(raw_lines) > 100:
        raise _bad("invalid_field", "order.lines may have at most 100 lines.", field="order.lines")
    lines = []
    for index, raw in enumerate(raw_lines):
        where = f"order.lines[{index}]."
        if not isinstance(raw, dict):
            raise _bad("invalid_field", f"{where[:-1]} must be an object.", field=where[:-1])
        quantity = raw.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 1000:
            raise _bad("invalid_field", f"{where}quantity must be an integer from 1.", field=f"{where}quantity")
        unit_price = _money(raw.get("unit_price"), f"{where}unit_price")
        sale_price = _optional_money(raw.get("sale_price"), f"{where}sale_price")
        if unit_price <= 0 or (sale_price is not None and not 0 < sale_price <= unit_price):
            raise _bad("invalid_field", f"{where}: prices must be positive, sale ≤ list.", field=f"{where}unit_price")
        lines.append(
            EventLine(
                store=_text(raw, "store", max_length=50, where=where),
                name=_text(raw, "name", max_length=200, where=where),
                quantity=quantity,
                unit_price=unit_price,
                sale_price=sale_price,
            )
        )
    amount = order.get("amount")
    if not isinstance(amount, dict):
        raise _bad("missing_field", "order.amount is required ({total, currency}).", field="order.amount")
    total = _money(amount.get("total"), "order.amount.total")
    currency = _text(amount, "currency", max_length=3, where="order.amount.")
    if len(currency) != 3 or not currency.isalpha():
        raise _bad("invalid_field", "order.amount.currency must be an ISO 4217 code.", field="order.amount.currency")
    payment = order.get("payment")
    if not isinstance(payment, dict):
        raise _bad("missing_field", "order.payment is required ({card_fingerprint}).", field="order.payment")
    fingerprint = _text(payment, "card_fingerprint", max_length=64, where="order.payment.")
    return replace(
        event,
        member_email=email,
        lines=lines,
        total=total,
        currency=currency.upper(),
        card_fingerprint=fingerprint,
    )
