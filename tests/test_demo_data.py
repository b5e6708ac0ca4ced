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
