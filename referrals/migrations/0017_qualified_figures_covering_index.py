"""The dashboard's qualified figures (how many, the oldest, how many delayed) are read from one index alone: the
(state, completed_at) index also carries credit_due_at and delay_flagged_at (INCLUDE on PostgreSQL). Built
concurrently on PostgreSQL, then the old index is dropped; on SQLite (no INCLUDE) the new index is the old one
under a new name."""

from django.db import migrations, models

from lib.migration_ops import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("referrals", "0016_click_index_with_channel")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="referral",
            index=models.Index(
                fields=["state", "completed_at"],
                include=("credit_due_at", "delay_flagged_at"),
                name="referral_qualified_cover_idx",
            ),
        ),
        migrations.RemoveIndex(model_name="referral", name="referral_state_completed_idx"),
    ]
