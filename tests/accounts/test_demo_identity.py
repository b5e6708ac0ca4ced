import pytest
from django.core.management import call_command

from accounts.management.commands.load_demo_data import FLAGGED_EMAIL, MEMBER_EMAIL, MEMBER_PHONE
from accounts.models import AccountStatus, User

pytestmark = pytest.mark.django_db


def test_demo_member_has_a_verified_phone_and_a_flagged_neighbour():
    for _ in range(2):
        call_command("load_demo_data", stdout=open("/dev/null", "w"))  # noqa: SIM115
    member = User.objects.get(email=MEMBER_EMAIL)
    assert (member.phone, str(member.country)) == (MEMBER_PHONE, "US")
    assert member.phone_verified_at is not None and member.email_verified_at is not None
    flagged = User.objects.get(email=FLAGGED_EMAIL)
    assert flagged.status == AccountStatus.FLAGGED and flagged.status_reason == "DEVICE_RING"
