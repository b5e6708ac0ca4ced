"""The referral program in the support console: everything read-only, changes only through audited actions.

- referral: the referral list and the fraud review queue (with the timeline inline);
- codes:    clicks, referral codes (enable / disable), the monthly counters and the kept referral counts;
- actions:  the audited staff actions on referrals (review, credit, void the reward, re-run eligibility);
- signals:  the stored signals as tables for people;
- panels:   read-only panels other admins embed (timeline, the referrer's behaviour);
- terms:    the terms a referral was promised at sign-up, as a table;
- replay:   a referral's recorded decisions replayed under today's rules (a diff, no state change);
- what_if:  what-if runs of the eligibility thresholds over past referrals (Celery), with their CSV;
- milestones: the quarter milestone tiers (program managers), awards and counters (read-only).
Django's admin autodiscovery imports this package; importing the modules registers their ModelAdmins.
"""

from referrals.admin import codes, milestones, referral, what_if  # noqa: F401 - registers the ModelAdmins
