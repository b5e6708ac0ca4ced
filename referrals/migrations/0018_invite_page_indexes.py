"""Two partial indexes for Invite Friends, built concurrently on PostgreSQL (the referral table is large and written
all day):

- money on the way reads a member's first due referrals on the way from the head of (referrer, credit_due_at,
  order_placed_at, id WHERE state IN ON_THE_WAY_STATES) instead of sorting them all;
- a capped card's month ordinal counts the member's capped referrals of the month from (referrer,
  COALESCE(decided_at, completed_at), id WHERE state = 'capped') alone.
"""

from django.db import migrations, models
from django.db.models.functions import Coalesce

from lib.migration_ops import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("referrals", "0017_qualified_figures_covering_index")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("state__in", ("order_placed", "qualified"))),
                fields=["referrer", "credit_due_at", "order_placed_at", "id"],
                name="referral_on_the_way_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="referral",
            index=models.Index(
                models.F("referrer"),
                Coalesce("decided_at", "completed_at"),
                models.F("id"),
                condition=models.Q(("state", "capped")),
                name="referral_capped_month_idx",
            ),
        ),
    ]
