"""Compare the kept referral counts with the referrals counted, and rebuild the referrers that differ."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from referrals.services.tallies import rebuild_referral_tallies, tally_mismatches


class Command(BaseCommand):
    help = (
        "List referrers whose kept referral counts (ReferralTally, kept by triggers) differ from their referrals "
        "counted; --rebuild counts those referrers again (docs/performance.md, 'Kept referral counts')."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=100, help="Stop after this many referrers (default 100).")
        parser.add_argument("--rebuild", action="store_true", help="Count the referrers found again into the tally.")

    def handle(self, *args, limit: int, rebuild: bool, **options) -> None:
        found = tally_mismatches(limit=limit)
        for mismatch in found:
            self.stdout.write(f"referrer {mismatch.referrer_id}: kept {mismatch.kept} counted {mismatch.counted}")
        if not found:
            self.stdout.write("The kept referral counts match the referrals.")
            return
        if not rebuild:
            raise CommandError(f"{len(found)} referrer(s) differ; run again with --rebuild to count them again.")
        rows = rebuild_referral_tallies(referrer_ids=[m.referrer_id for m in found])
        self.stdout.write(f"Rebuilt {len(found)} referrer(s): {rows} tally row(s) written.")
