"""How many promo codes a member, and an internet connection, may try (docs/program-rules.md section 5).

Every checkout submission that carries a promo code counts, whatever its answer, per member and per client IP
(its keyed hash) in the shared cache. Over either limit the code is not looked up at all and the member reads
`PROMO_ATTEMPTS_MESSAGE`: a guesser learns nothing more. A cache outage refuses promo codes (checkout itself
stays open), as it holds back SMS and e-mail.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.identity import keyed_hash
from lib.ratelimit import allow

PROMO_ATTEMPTS_PER_MEMBER = 10  # an hour
PROMO_ATTEMPTS_PER_IP = 30  # an hour
PROMO_ATTEMPTS_WINDOW_SECONDS = 3600
PROMO_ATTEMPTS_MESSAGE = _(
    "Too many promo code attempts. Try again in an hour; you can still pay without a promo code."
)


def promo_attempt_allowed(*, member_id: int, ip: str) -> bool:
    """Count one promo code attempt for the member and the IP; False once either is over its hourly limit."""
    by_member = allow(
        key=f"promo:member:{member_id}",
        limit=PROMO_ATTEMPTS_PER_MEMBER,
        window_seconds=PROMO_ATTEMPTS_WINDOW_SECONDS,
        when_unavailable=False,
    )
    by_ip = allow(
        key=f"promo:ip:{keyed_hash(ip, purpose='ip')}",
        limit=PROMO_ATTEMPTS_PER_IP,
        window_seconds=PROMO_ATTEMPTS_WINDOW_SECONDS,
        when_unavailable=False,
    )
    return by_member and by_ip
