"""Drop the click table's single-column index on referral_code_id.

click_code_time_idx (referral_code, clicked_at) already serves every lookup by code, so the
hot click INSERT maintains one index fewer. Only the index goes: a plain AlterField would
drop and re-add the foreign key, re-checking every click under a lock.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "referrals_click_referral_code_id_b5d523a6"  # Django's name for the FK's index (any backend)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_staff_permissions_and_review_queue"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="click",
                    name="referral_code",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="clicks",
                        to="referrals.referralcode",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "referrals_click" ("referral_code_id")',
                ),
            ],
        ),
    ]
