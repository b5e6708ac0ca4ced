"""Referral.terms: the terms in force at sign-up (referrals.terms). Existing referrals get their regions' settings
as they stand when this migration runs: the closest record of "the terms of their region at the time".

The JSON is written here as `referrals.terms.snapshot_terms` wrote it in version 1 (a migration must not import
today's code: it runs against the historical models)."""

from decimal import Decimal

from django.db import migrations, models
from django.utils import timezone


def _region(regions, default, country):
    return regions.get((country or "").upper(), default)


def _snapshot(friend_region, referrer_region, at):
    package = [
        {"value": str(Decimal(str(item.get("value", 0)))), "min_spend": str(Decimal(str(item.get("min_spend", 0))))}
        for item in friend_region.welcome_package or ()
    ]
    return {
        "version": 1,
        "captured_at": at.isoformat(),
        "friend": {
            "country": friend_region.country,
            "currency": friend_region.currency,
            "welcome_package": package,
            "coupon_valid_days": friend_region.coupon_valid_days,
        },
        "referrer": {
            "country": referrer_region.country,
            "currency": referrer_region.currency,
            "reward_amount": str(referrer_region.reward_amount),
            "reward_min_spend": str(referrer_region.reward_min_spend),
            "coupon_valid_days": referrer_region.coupon_valid_days,
            "monthly_limit": referrer_region.monthly_limit,
            "time_zone": referrer_region.time_zone or "UTC",
        },
    }


def freeze_existing_terms(apps, schema_editor):
    Region = apps.get_model("accounts", "Region")
    Referral = apps.get_model("referrals", "Referral")
    regions = {region.country: region for region in Region.objects.all()}
    default = next((region for region in regions.values() if region.is_default), None)
    if default is None:
        return  # no regions at all (an empty database): nothing to freeze
    now = timezone.now()
    batch = []
    for referral in Referral.objects.filter(terms={}).select_related("friend", "referrer").iterator(chunk_size=500):
        referral.terms = _snapshot(
            _region(regions, default, str(referral.friend.country or "")),
            _region(regions, default, str(referral.referrer.country or "")),
            now,
        )
        batch.append(referral)
        if len(batch) >= 500:
            Referral.objects.bulk_update(batch, ["terms"])
            batch = []
    if batch:
        Referral.objects.bulk_update(batch, ["terms"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_coins_move_to_coupons"),
        ("referrals", "0007_scale_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="terms",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(freeze_existing_terms, migrations.RunPython.noop),
    ]
