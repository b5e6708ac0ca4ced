"""Reason codes and referral states, defined once (PROGRAM_RULES.md sections 2, 3, 6).

The same code reaches the member (in plain words), the staff screen and the logs.
"""

from __future__ import annotations

from django.db import models

FLAGGED_MESSAGE = "For security reasons, your request cannot be processed."


class ReferralState(models.TextChoices):
    REGISTERED = "registered", "Signed up"
    ORDER_PLACED = "order_placed", "First order placed"
    QUALIFIED = "qualified", "Qualified"
    CREDITED = "credited", "Credited"
    CAPPED = "capped", "Counted, not credited"
    VOIDED = "voided", "Voided"
    REJECTED = "rejected", "Not eligible"
    UNDER_REVIEW = "under_review", "Under review"


TERMINAL_STATES = frozenset(
    {ReferralState.CREDITED, ReferralState.CAPPED, ReferralState.VOIDED, ReferralState.REJECTED}
)


class ReasonCode(models.TextChoices):
    # Section 2: who counts as a new friend
    ALREADY_REGISTERED = "ALREADY_REGISTERED", "Friend already has an account"
    SELF_REFERRAL = "SELF_REFERRAL", "Friend is the referrer"
    DEVICE_LIMIT = "DEVICE_LIMIT", "Too many accounts on this device"
    REGION_RESTRICTED = "REGION_RESTRICTED", "Country not in the program"
    REGION_MISMATCH = "REGION_MISMATCH", "Location does not match account region"
    ACCOUNT_FLAGGED = "ACCOUNT_FLAGGED", "Account flagged"
    REFERRER_INACTIVE = "REFERRER_INACTIVE", "Referrer not active"
    # Section 3: first order and reward
    FIRST_ORDER_CANCELED = "FIRST_ORDER_CANCELED", "First order canceled"
    FIRST_ORDER_REFUNDED = "FIRST_ORDER_REFUNDED", "First order refunded"
    SHARED_PAYMENT_METHOD = "SHARED_PAYMENT_METHOD", "Payment card linked to the referrer"
    MONTHLY_LIMIT = "MONTHLY_LIMIT", "Monthly limit reached"
    TECHNICAL_DELAY = "TECHNICAL_DELAY", "Reward delayed (technical)"
    # Section 6: medium signals that send a referral to review
    SHARED_IP_AND_AGENT = "SHARED_IP_AND_AGENT", "Same IP and browser as the referrer"
    SHARED_FINGERPRINT = "SHARED_FINGERPRINT", "Same browser fingerprint as the referrer"
    COUNTRY_SIGNAL_MISMATCH = "COUNTRY_SIGNAL_MISMATCH", "IP country differs from phone country"
    DISPOSABLE_EMAIL = "DISPOSABLE_EMAIL", "Disposable e-mail domain"
    REFERRER_BURST = "REFERRER_BURST", "Burst of qualified friends"
    IP_BURST = "IP_BURST", "Burst of sign-ups from one IP"
    # Weak signal: recorded only
    SHARED_IP = "SHARED_IP", "Same IP as the referrer"
    # Staff decisions
    STAFF_APPROVED = "STAFF_APPROVED", "Approved by staff"
    STAFF_REJECTED = "STAFF_REJECTED", "Rejected by staff"
    MANUAL_CREDIT = "MANUAL_CREDIT", "Credited by staff"
    REWARD_REVERSED = "REWARD_REVERSED", "Reward reversed"
