"""Hook from the orders app into the referral program (first orders only)."""

from __future__ import annotations

from datetime import datetime


def record_first_order_event(*, order, event: str, occurred_at: datetime) -> None:
    """Tell the referral program that a buyer's first order was placed, paid, shipped, completed, canceled or refunded.

    Called by orders.services inside the transaction that records the order's
    transition, once per newly recorded transition, with when it happened.
    """
    # Placeholder so the orders branch runs; the crediting branch provides the real implementation.
    return None
