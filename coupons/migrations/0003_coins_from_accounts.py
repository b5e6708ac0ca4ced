"""CheckIn and CoinLedger, moved from accounts (accounts 0007), keep their rows, ids and permissions.

1. State only: the two models are created in coupons on the existing tables (accounts_checkin, accounts_coinledger).
2. AlterModelTable renames the tables to the names the coupons app gives them (coupons_checkin, coupons_coinledger):
   a plain ALTER TABLE … RENAME, no copy; nothing references these tables by a foreign key. Named constraints and
   indexes (one_check_in_per_day, coin_ledger_member_idx, coin_ledger_delta_non_zero) keep their names.
3. Their content types move to app_label "coupons": the permissions (add/change/delete/view) and admin log entries
   that point at them follow, so staff keep what they were granted. A content type that already exists under
   coupons (e.g. created by a run of post_migrate in between) is left alone, and so is the old one.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ("checkin", "coinledger")


def _move_content_types(apps, *, from_label: str, to_label: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if ContentType.objects.filter(app_label=to_label, model=model).exists():
            continue
        ContentType.objects.filter(app_label=from_label, model=model).update(app_label=to_label)
    ContentType.objects.clear_cache()


def forwards(apps, schema_editor) -> None:
    _move_content_types(apps, from_label="accounts", to_label="coupons")


def backwards(apps, schema_editor) -> None:
    _move_content_types(apps, from_label="coupons", to_label="accounts")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_coins_move_to_coupons"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("coupons", "0002_promo_redemption"),
        ("orders", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CheckIn",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("day", models.DateField(help_text="The member's local date.")),
                        ("streak", models.PositiveIntegerField(default=1)),
                        ("coins", models.PositiveIntegerField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="check_ins",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "accounts_checkin",
                        "ordering": ["-day"],
                        "constraints": [models.UniqueConstraint(fields=("user", "day"), name="one_check_in_per_day")],
                    },
                ),
                migrations.CreateModel(
                    name="CoinLedger",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("delta", models.IntegerField(help_text="+ coins earned, − coins spent.")),
                        ("balance_after", models.PositiveIntegerField()),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("check_in", "Daily check-in"),
                                    ("exchange", "Exchanged for a coupon"),
                                    ("checkout", "Spent at checkout"),
                                    ("return", "Returned (order canceled)"),
                                    ("manual", "Manual adjustment"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("reason", models.CharField(blank=True, max_length=300)),
                        ("idempotency_key", models.CharField(max_length=120, unique=True)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "coupon",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="coupons.coupon",
                            ),
                        ),
                        (
                            "member",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="coin_ledger",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "order",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="orders.order",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "accounts_coinledger",
                        "verbose_name": "coin ledger entry",
                        "verbose_name_plural": "coin ledger",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["member", "-created_at"], name="coin_ledger_member_idx")],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("delta", 0), _negated=True), name="coin_ledger_delta_non_zero"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        # None = the app's default name (coupons_checkin, coupons_coinledger).
        migrations.AlterModelTable(name="checkin", table=None),
        migrations.AlterModelTable(name="coinledger", table=None),
        migrations.RunPython(forwards, backwards),
    ]
