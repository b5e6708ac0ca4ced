"""Write use cases of the referral program, one module per stage.

Other apps call these names only (never the models' internals):
- codes:       ensure_referral_code
- timeline:    record_start, transition (every state change, with its timeline row)
- signup:      register_referral (bind a new member to one code, with eligibility; the sign-up flow
               flows.signup.register_referral also writes a device ring's audit rows), issue_welcome_package
- crediting:   credit_referral, credit_manually, flag_delayed_referrals, reconcile_rewards
- sweep:       credit_due_referrals (every due referral, in set-based batches)
- batch:       credit_locked (crediting or capping locked referrals: the code both crediting paths run)
- terms:       reward_terms (the one place crediting reads a referral's terms)
- milestones:  count_credits / count_credit (every credit counted in the quarter; batch and staff credits),
               reverse_milestones (with a reversed reward)
- reconciliation: run_reconciliation (nightly: rewards and ledgers, kept for the staff dashboard)
- lifecycle:   record_first_order_event (a first order's placed / completed / canceled / refunded event)
- review:      approve_review, reject_review (staff decisions), continue_after_review (shared with second_chance)
- second_chance: close_review_by_phone (a medium-signal sign-up review closed by a fresh phone; flows.phone
               writes its audit row)
- what_if:     run_what_if (past referrals replayed under other thresholds; evidence only)
- tallies:     compact_referral_tallies (the kept referral counts' trigger-written deltas folded, every minute),
               tally_mismatches / rebuild_referral_tallies (the staff check and repair)
The program month and the crediting deadline are `referrals.program`'s; the terms a referral was promised,
`referrals.terms`'s.
"""

from referrals.services.codes import ensure_referral_code
from referrals.services.crediting import (
    CreditError,
    credit_manually,
    credit_referral,
    flag_delayed_referrals,
    reconcile_rewards,
)
from referrals.services.lifecycle import record_first_order_event
from referrals.services.review import ReviewError, approve_review, reject_review
from referrals.services.signup import WelcomePackageNotDue, issue_welcome_package
from referrals.services.sweep import credit_due_referrals
from referrals.services.timeline import record_start, transition

__all__ = [
    "CreditError",
    "ReviewError",
    "WelcomePackageNotDue",
    "approve_review",
    "credit_due_referrals",
    "credit_manually",
    "credit_referral",
    "ensure_referral_code",
    "flag_delayed_referrals",
    "issue_welcome_package",
    "reconcile_rewards",
    "record_first_order_event",
    "record_start",
    "reject_review",
    "transition",
]
