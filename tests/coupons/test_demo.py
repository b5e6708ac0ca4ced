import pytest
from django.core.management import call_command

from accounts.models import User
from coupons.models import Campaign, Coupon, LedgerEntry

pytestmark = pytest.mark.django_db


def test_demo_coupons_of_every_kind_and_idempotent():
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = (Coupon.objects.count(), LedgerEntry.objects.count(), Campaign.objects.count())
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (Coupon.objects.count(), LedgerEntry.objects.count(), Campaign.objects.count()) == counts
    member = User.objects.get(email="member@example.com")
    coupons = Coupon.objects.filter(owner=member)
    assert {c.kind for c in coupons} == {"platform", "select", "store"}
    assert {"welcome", "referral", "event"} <= {c.source for c in coupons}
    assert {"active", "used", "expired"} <= {c.status for c in coupons}
    assert Campaign.objects.get(code="WELCOME10").kind == "promo"
    assert member.coins > 0


def test_demo_stores_offer_store_coupons_once():
    from coupons.models import StoreOffer

    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    offers = StoreOffer.objects.select_related("store")
    assert {(o.store.slug, o.audience) for o in offers} == {
        ("northwind-outfitters", "followers"),
        ("northwind-outfitters", "first_buyers"),
        ("pixel-gadgets", "followers"),
    }
