"""The click index carries the channel (INCLUDE on PostgreSQL), so the funnel's per-channel count of a member's
clicks reads the index alone. Built concurrently on PostgreSQL (the click table takes writes all the time), then
the old index is dropped; on SQLite (no INCLUDE) the new index is the old one under a new name."""

from django.db import migrations, models

from lib.migration_ops import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("referrals", "0015_staff_page_indexes")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="click",
            index=models.Index(
                fields=["referral_code", "clicked_at"], include=("channel",), name="click_code_time_chan_idx"
            ),
        ),
        migrations.RemoveIndex(model_name="click", name="click_code_time_idx"),
    ]
