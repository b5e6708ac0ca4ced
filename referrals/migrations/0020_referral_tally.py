# ruff: noqa: S608 - the SQL is built from this module's constants
"""Kept referral counts: `ReferralTally`, kept by triggers on referrals_referral (docs/performance.md, "Kept referral
counts").

Invite Friends used to group all of a referrer's referrals on every visit. Now every INSERT, UPDATE and DELETE of
a referral, whoever sends it (services, the credit sweep's SQL, the credit function, queryset.update(), bulk_update,
admin, deletes), adds signed deltas of `referrals.selectors.funnel.REFERRAL_COUNTS` per (referrer, channel, state)
as new rows; nothing updates a shared counter row, so concurrent writers never wait for each other here.

- PostgreSQL: one AFTER … FOR EACH STATEMENT trigger per event with transition tables (a multi-row statement
  writes one delta row per group it touched; an UPDATE that moves no count writes nothing), plus AFTER TRUNCATE.
- SQLite: row-level AFTER triggers (the UPDATE one only when a counted value changes).

The trigger's two predicates are REFERRAL_COUNTS's filters written in SQL (`ordered`: a first order placed or
completed; `already`: the ALREADY_REGISTERED reason); tests/referrals/test_referral_tally.py checks them against
REFERRAL_COUNTS. Like the credit function (0014), the SQL names columns as of this migration: a change to those
columns or to the rules must replace the triggers in a new migration. On SQLite, a migration that remakes the
referral table (most AlterField operations) drops its triggers: recreate them in that migration (the same test
fails until it does).

The back-fill runs after the triggers exist: CREATE TRIGGER holds a lock that blocks writes to referrals until
this migration commits, so no write is counted twice or missed.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from referrals.reasons import ReasonCode

TALLY = "referrals_referraltally"
COLUMNS = "referrer_id, channel, state, n, ordered, already, is_delta"
ALREADY = ReasonCode.ALREADY_REGISTERED.value
if not ALREADY.isidentifier():  # written as a literal in the SQL below
    raise ValueError(ALREADY)


def ordered(r: str) -> str:
    return f"({r}.order_placed_at IS NOT NULL OR {r}.completed_at IS NOT NULL)"


def already(r: str) -> str:
    return f"({r}.reason_code = '{ALREADY}')"


def counted(r: str, sign: str, is_delta: str) -> str:
    """Grouped counts of the rows `r` (sign "" or "-"), as a SELECT list matching COLUMNS."""
    return (
        f"{r}.referrer_id, {r}.channel, {r}.state, {sign}COUNT(*), "
        f"{sign}SUM(CASE WHEN {ordered(r)} THEN 1 ELSE 0 END), {sign}SUM(CASE WHEN {already(r)} THEN 1 ELSE 0 END), "
        f"{is_delta}"
    )


GROUP = "GROUP BY r.referrer_id, r.channel, r.state"

POSTGRES = f"""
CREATE OR REPLACE FUNCTION referrals_tally_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TALLY} ({COLUMNS}) SELECT {counted("r", "", "true")} FROM new_rows AS r {GROUP};
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION referrals_tally_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {TALLY} ({COLUMNS}) SELECT {counted("r", "-", "true")} FROM old_rows AS r {GROUP};
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION referrals_tally_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- +1 per new row, -1 per old row, per group: an UPDATE that moves no count (timestamps, signals, terms, ...)
    -- writes nothing.
    INSERT INTO {TALLY} ({COLUMNS})
    SELECT r.referrer_id, r.channel, r.state, SUM(r.n), SUM(r.ordered), SUM(r.already), true
    FROM (
        SELECT r.referrer_id, r.channel, r.state, 1 AS n,
               CASE WHEN {ordered("r")} THEN 1 ELSE 0 END AS ordered,
               CASE WHEN {already("r")} THEN 1 ELSE 0 END AS already
        FROM new_rows AS r
        UNION ALL
        SELECT r.referrer_id, r.channel, r.state, -1,
               CASE WHEN {ordered("r")} THEN -1 ELSE 0 END,
               CASE WHEN {already("r")} THEN -1 ELSE 0 END
        FROM old_rows AS r
    ) AS r
    {GROUP}
    HAVING SUM(r.n) <> 0 OR SUM(r.ordered) <> 0 OR SUM(r.already) <> 0;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION referrals_tally_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {TALLY};
    RETURN NULL;
END $$;
CREATE TRIGGER referrals_tally_inserted AFTER INSERT ON referrals_referral
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION referrals_tally_inserted();
CREATE TRIGGER referrals_tally_updated AFTER UPDATE ON referrals_referral
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION referrals_tally_updated();
CREATE TRIGGER referrals_tally_deleted AFTER DELETE ON referrals_referral
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION referrals_tally_deleted();
CREATE TRIGGER referrals_tally_truncated AFTER TRUNCATE ON referrals_referral
    FOR EACH STATEMENT EXECUTE FUNCTION referrals_tally_truncated();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS referrals_tally_inserted ON referrals_referral;
DROP TRIGGER IF EXISTS referrals_tally_updated ON referrals_referral;
DROP TRIGGER IF EXISTS referrals_tally_deleted ON referrals_referral;
DROP TRIGGER IF EXISTS referrals_tally_truncated ON referrals_referral;
DROP FUNCTION IF EXISTS referrals_tally_inserted();
DROP FUNCTION IF EXISTS referrals_tally_updated();
DROP FUNCTION IF EXISTS referrals_tally_deleted();
DROP FUNCTION IF EXISTS referrals_tally_truncated();
"""


def row(r: str, sign: str) -> str:
    """One referral's counts as a VALUES row matching COLUMNS (SQLite: a comparison is 0 or 1)."""
    return f"({r}.referrer_id, {r}.channel, {r}.state, {sign}1, {sign}{ordered(r)}, {sign}{already(r)}, 1)"


def key(r: str) -> str:
    return f"({r}.referrer_id, {r}.channel, {r}.state, {ordered(r)}, {already(r)})"


SQLITE = [
    f"CREATE TRIGGER referrals_tally_inserted AFTER INSERT ON referrals_referral "
    f"BEGIN INSERT INTO {TALLY} ({COLUMNS}) VALUES {row('NEW', '')}; END",
    f"CREATE TRIGGER referrals_tally_updated AFTER UPDATE ON referrals_referral WHEN {key('OLD')} IS NOT {key('NEW')} "
    f"BEGIN INSERT INTO {TALLY} ({COLUMNS}) VALUES {row('OLD', '-')}, {row('NEW', '')}; END",
    f"CREATE TRIGGER referrals_tally_deleted AFTER DELETE ON referrals_referral "
    f"BEGIN INSERT INTO {TALLY} ({COLUMNS}) VALUES {row('OLD', '-')}; END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS referrals_tally_inserted",
    "DROP TRIGGER IF EXISTS referrals_tally_updated",
    "DROP TRIGGER IF EXISTS referrals_tally_deleted",
]
BACKFILL = f"INSERT INTO {TALLY} ({COLUMNS}) SELECT {counted('r', '', '%s')} FROM referrals_referral AS r {GROUP}"


def _execute(schema_editor, postgres: str, sqlite: list[str]) -> None:
    """Run the PostgreSQL script or the SQLite statements, as the database is."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgres, params=None)
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement, params=None)
    else:
        raise NotImplementedError(f"referral tally triggers for {vendor}")


def create(apps, schema_editor):
    _execute(schema_editor, POSTGRES, SQLITE)
    schema_editor.execute(BACKFILL, params=[False])


def drop(apps, schema_editor):
    _execute(schema_editor, POSTGRES_DROP, SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0019_click_rollup"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReferralTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("whatsapp", "WhatsApp"),
                            ("telegram", "Telegram"),
                            ("facebook", "Facebook"),
                            ("instagram", "Instagram"),
                            ("x", "X"),
                            ("email", "E-mail"),
                            ("copy", "Copied link"),
                            ("qr", "QR code"),
                            ("other", "Other"),
                            ("typed", "Code typed at sign-up"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("registered", "Signed up"),
                            ("order_placed", "First order placed"),
                            ("qualified", "Qualified"),
                            ("credited", "Credited"),
                            ("capped", "Counted, not credited"),
                            ("voided", "Voided"),
                            ("rejected", "Not eligible"),
                            ("under_review", "Under review"),
                        ],
                        max_length=14,
                    ),
                ),
                ("n", models.IntegerField()),
                ("ordered", models.IntegerField()),
                ("already", models.IntegerField()),
                ("is_delta", models.BooleanField(default=True)),
                (
                    "referrer",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("is_delta", True)), fields=["referrer"], name="referral_tally_delta_idx"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("is_delta", False)),
                        fields=("referrer", "channel", "state"),
                        name="referral_tally_compacted",
                    )
                ],
            },
        ),
        migrations.RunPython(create, drop),
    ]
