"""Default member levels: Silver 0, Gold 200, Platinum 500, Diamond 2000 points (docs/program-rules.md section 8)."""

from decimal import Decimal

from django.db import migrations

# A copy (migrations must not import app code that may change later).
LEVELS = [
    {"code": "silver", "min_points": 0},
    {
        "code": "gold",
        "min_points": 200,
        "anniversary_coupon_value": Decimal("5.00"),
        "anniversary_coupon_min_spend": Decimal("25.00"),
    },
    {
        "code": "platinum",
        "min_points": 500,
        "anniversary_coupon_value": Decimal("10.00"),
        "anniversary_coupon_min_spend": Decimal("50.00"),
        "fast_refund_limit": Decimal("100.00"),
    },
    {
        "code": "diamond",
        "min_points": 2000,
        "anniversary_coupon_value": Decimal("20.00"),
        "anniversary_coupon_min_spend": Decimal("100.00"),
        "fast_refund_limit": Decimal("100.00"),
        "support_priority": 0,
    },
]


def create_levels(apps, schema_editor):
    Level = apps.get_model("accounts", "Level")
    for row in LEVELS:
        Level.objects.get_or_create(code=row["code"], defaults={k: v for k, v in row.items() if k != "code"})


def remove_levels(apps, schema_editor):
    apps.get_model("accounts", "Level").objects.filter(code__in=[row["code"] for row in LEVELS]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_member_levels_and_coins")]
    operations = [migrations.RunPython(create_levels, remove_levels)]
