"""Write use cases of the referral program, one module per stage.

Other apps call these names only (never the models' internals):
- codes:     ensure_referral_code
- timeline:  transition (every state change, with its timeline row)
"""

from referrals.services.codes import ensure_referral_code
from referrals.services.timeline import record_start, transition

__all__ = ["ensure_referral_code", "record_start", "transition"]
