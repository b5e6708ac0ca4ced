"""Invite Friends' money on the way reads a member's first due referrals on the way from the head of a partial index
(referrer, credit_due_at, order_placed_at, id WHERE state IN ON_THE_WAY_STATES) instead of sorting them all.
Built concurrently on PostgreSQL (the referral table is large and written all day)."""

from django.db import migrations, models

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
    ]
