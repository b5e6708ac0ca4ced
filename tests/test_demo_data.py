import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_demo_data_is_idempotent():
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = User.objects.count()
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert User.objects.count() == counts
    assert User.objects.filter(is_staff=True).exists()
    assert User.objects.filter(is_staff=False).exists()


def test_demo_member_has_a_code_and_friends_with_reasons():
    from referrals.models import Referral, ReferralCode

    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    member = User.objects.get(email="member@example.com")
    assert ReferralCode.objects.filter(user=member).count() == 1
    referrals = Referral.objects.filter(referrer=member)
    assert referrals.filter(state="registered").count() == 1
    assert set(referrals.filter(state="rejected").values_list("reason_code", flat=True)) == {
        "ALREADY_REGISTERED",
        "SELF_REFERRAL",
    }
    assert referrals.get(state="registered").welcome_coupons.count() == 4


def test_demo_member_has_referrals_in_every_state():
    from coupons.models import Coupon
    from referrals.models import Referral

    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    member = User.objects.get(email="member@example.com")
    states = dict(Referral.objects.filter(referrer=member).values_list("state", "reason_code"))
    assert {"qualified", "credited", "capped", "voided", "under_review", "order_placed"} <= set(states)
    assert states["voided"] == "FIRST_ORDER_CANCELED"
    assert states["capped"] == "MONTHLY_LIMIT"
    credited = Referral.objects.get(referrer=member, state="credited")
    assert Coupon.objects.filter(referral=credited, owner=member).count() == 1


def test_demo_data_tells_one_story(caplog):
    """The member's level is set once (no silver → gold → silver → gold), store coupons are for stores of the shop,
    and every referral coupon pays a referral, so the meter, the earnings and My Coupons agree."""
    import logging

    from coupons.models import Coupon
    from orders.models import Product

    with caplog.at_level(logging.INFO, logger="accounts.levels"):
        call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    member = User.objects.get(email="member@example.com")
    changes = [
        r.getMessage()
        for r in caplog.records
        if r.name == "accounts.levels" and f"member {member.pk}" in r.getMessage()
    ]
    assert len(changes) == 1 and "silver -> gold" in changes[0], changes
    store_coupons = Coupon.objects.filter(kind="store")
    assert store_coupons.exists()
    for coupon in store_coupons:
        assert Product.objects.filter(store=coupon.store).exists(), coupon.store
    referral_coupons = Coupon.objects.filter(owner=member, source="referral")
    assert referral_coupons.exists() and not referral_coupons.filter(referral__isnull=True).exists()
