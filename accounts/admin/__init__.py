"""The accounts part of the support console. Django's admin autodiscovery imports this package; importing the
modules registers their ModelAdmins.

- users:    the member page (status actions, voiding a coupon, linked accounts, behaviour);
- inlines:  the member page's read-only inlines;
- identity: regions, devices, IP sightings, notifications (resend);
- levels:   member levels.
Coins and check-ins are the wallet's (coupons.admin).
"""

from accounts.admin import identity, levels, users  # noqa: F401 - registers the ModelAdmins
