"""Write use cases of the referral program, one module per stage.

Other apps call these names only (never the models' internals):
- codes:     ensure_referral_code
- timeline:  transition (every state change, with its timeline row)
- signup:    register_referral (bind a new member to one code, with eligibility), issue_welcome_package
- attribution: record_click, set_attribution_cookie, read_attribution (link clicks; never reward state)
"""

from referrals.services.codes import ensure_referral_code
from referrals.services.signup import WelcomePackageNotDue, issue_welcome_package, register_referral
from referrals.services.timeline import record_start, transition

__all__ = [
    "WelcomePackageNotDue",
    "ensure_referral_code",
    "issue_welcome_package",
    "record_start",
    "register_referral",
    "transition",
]

# Crediting, the first-order lifecycle and staff reviews (appended).
from referrals.services.crediting import (
    CreditError,
    credit_due_referrals,
    credit_manually,
    credit_referral,
    flag_delayed_referrals,
    program_month,
    reconcile_rewards,
)
from referrals.services.lifecycle import record_first_order_event
from referrals.services.review import ReviewError, approve_review, reject_review

__all__ += [
    "CreditError",
    "ReviewError",
    "approve_review",
    "credit_due_referrals",
    "credit_manually",
    "credit_referral",
    "flag_delayed_referrals",
    "program_month",
    "reconcile_rewards",
    "record_first_order_event",
    "reject_review",
]
