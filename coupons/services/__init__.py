"""Write use cases of the wallet's coupons, one module per responsibility; every coupon event writes one
append-only coupon-ledger row.

- ledger:     write_ledger (the coupon ledger's one write)
- issuing:    issue_coupon, issue_coupons (many at once, for the credit sweep)
- redemption: redeem_for_order, release_for_canceled_order (spend and give back at checkout)
- lifecycle:  void_coupon, reverse_reward_coupon, expire_overdue_coupons, send_expiry_reminders

Coins are `coupons.coins`; checkout pricing is `coupons.pricing`; anniversary coupons `coupons.anniversary`;
event coupons `coupons.events`.
"""

from coupons.services.issuing import NewCoupon, issue_coupon, issue_coupons
from coupons.services.ledger import write_ledger
from coupons.services.lifecycle import (
    CouponStateError,
    expire_overdue_coupons,
    reverse_reward_coupon,
    send_expiry_reminders,
    void_coupon,
)
from coupons.services.redemption import (
    Redemption,
    RedemptionError,
    Release,
    redeem_for_order,
    release_for_canceled_order,
)

__all__ = [
    "CouponStateError",
    "NewCoupon",
    "Redemption",
    "RedemptionError",
    "Release",
    "expire_overdue_coupons",
    "issue_coupon",
    "issue_coupons",
    "redeem_for_order",
    "release_for_canceled_order",
    "reverse_reward_coupon",
    "send_expiry_reminders",
    "void_coupon",
    "write_ledger",
]
