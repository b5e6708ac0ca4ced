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
