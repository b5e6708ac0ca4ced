"""The click roll-up (docs/performance.md, "Click growth"): the watermark row, and on PostgreSQL a BRIN index on
clicked_at through which the roll-up finds a time range's clicks without reading the table.

The watermark starts at the epoch, before any click: `ClickTally` then holds only the clicks the retention job has
already deleted and counted, the funnel adds every raw click, and its numbers are what they were before. The BRIN
index is a few pages per million clicks; a click insert touches it only when its time widens its block range's
summary (appended clicks arrive in time order, into the unsummarized tail). `autosummarize` asks autovacuum to
summarize each range as it fills, so a range query reads only the ranges that can hold it. Built concurrently so
the click table keeps taking clicks meanwhile (hence a non-atomic migration).

Reversing it after the roll-up has run leaves tallies that include raw clicks the old funnel counts again
(docs/deployment.md, "Data retention").
"""

import datetime

from django.db import migrations, models

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

CREATE_BRIN = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS click_time_brin_idx ON referrals_click "
    "USING brin (clicked_at) WITH (autosummarize = on)"
)
DROP_BRIN = "DROP INDEX CONCURRENTLY IF EXISTS click_time_brin_idx"


def create_watermark(apps, schema_editor):
    ClickRollup = apps.get_model("referrals", "ClickRollup")
    ClickRollup.objects.get_or_create(pk=1, defaults={"counted_before": EPOCH})


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_BRIN)


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_BRIN)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("referrals", "0018_invite_page_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ClickRollup",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                (
                    "counted_before",
                    models.DateTimeField(default=datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.UTC)),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(("id", 1)), name="click_rollup_single_row")],
            },
        ),
        migrations.RunPython(create_watermark, migrations.RunPython.noop),
        migrations.RunPython(create_brin, drop_brin),
    ]
