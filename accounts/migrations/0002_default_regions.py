"""Default program regions: USD for everyone, RU/KZ/AZ restricted (docs/program-rules.md section 7)."""

from decimal import Decimal

from django.db import migrations

WELCOME_PACKAGE = [
    {"value": "4.00", "min_spend": "5.00"},
    {"value": "5.00", "min_spend": "25.00"},
    {"value": "7.00", "min_spend": "49.00"},
    {"value": "8.00", "min_spend": "69.00"},
]

RESTRICTED = [("RU", "Russia", "RUB"), ("KZ", "Kazakhstan", "KZT"), ("AZ", "Azerbaijan", "AZN")]


def create_regions(apps, schema_editor):
    Region = apps.get_model("accounts", "Region")
    Region.objects.get_or_create(
        country="US",
        defaults={
            "name": "United States (default)",
            "is_default": True,
            "is_in_program": True,
            "currency": "USD",
            "reward_amount": Decimal("5.00"),
            "reward_min_spend": Decimal("20.00"),
            "welcome_package": WELCOME_PACKAGE,
            "time_zone": "UTC",
            "locale": "en_US",
        },
    )
    for code, name, currency in RESTRICTED:
        Region.objects.get_or_create(
            country=code,
            defaults={"name": name, "is_in_program": False, "currency": currency, "welcome_package": []},
        )


def remove_regions(apps, schema_editor):
    Region = apps.get_model("accounts", "Region")
    Region.objects.filter(country__in=["US", *[c for c, _, _ in RESTRICTED]]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_regions, remove_regions)]
