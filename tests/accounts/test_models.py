import pytest
from django.db import IntegrityError
from django.utils import timezone

from accounts.identity import normalize_email
from accounts.models import User

pytestmark = pytest.mark.django_db


def test_email_is_the_login_and_is_stored_lower_case():
    user = User.objects.create_user(email="Maya@Example.COM", password="x-secret-123", first_name="Maya")
    assert user.email == "maya@example.com"
    assert User.USERNAME_FIELD == "email"
    assert user.check_password("x-secret-123")


def test_email_is_unique():
    User.objects.create_user(email="a@example.com", password="p", first_name="A")
    with pytest.raises(IntegrityError):
        User.objects.create_user(email="A@example.com", password="p", first_name="B")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jo.Hn+promo@gmail.com", "john@gmail.com"),
        ("jo.hn@googlemail.com", "john@gmail.com"),
        ("jo.hn+x@outlook.com", "jo.hn@outlook.com"),
        ("jo.hn+x@example.org", "jo.hn+x@example.org"),
    ],
)
def test_normalised_email_ignores_dots_and_tags_only_where_the_provider_does(raw, expected):
    assert normalize_email(raw) == expected


def test_a_verified_phone_belongs_to_one_account():
    now = timezone.now()
    User.objects.create_user(email="a@example.com", password="p", first_name="A", phone="+14155550123")
    User.objects.create_user(email="b@example.com", password="p", first_name="B", phone="+14155550123")
    User.objects.filter(email="a@example.com").update(phone_verified_at=now)
    with pytest.raises(IntegrityError):
        User.objects.filter(email="b@example.com").update(phone_verified_at=now)


def test_default_regions_exist():
    from accounts.models import Region
    from accounts.selectors import region_for_country

    assert region_for_country("US").is_in_program
    assert region_for_country("DE").country == "US"  # unlisted → default region
    for code in ("RU", "KZ", "AZ"):
        assert region_for_country(code).is_in_program is False
    assert Region.objects.get(is_default=True).welcome_package


def test_a_new_region_gets_the_programs_default_monthly_limit_from_the_model_not_the_environment(settings):
    """docs/program-rules.md section 3: at most 10 referral coupons a month by default; each Region may change it
    (admin).
    There is no environment fallback (REFERRAL_MONTHLY_LIMIT was never read and is gone)."""
    from accounts.models import Region

    assert not hasattr(settings, "REFERRAL_MONTHLY_LIMIT")
    region = Region.objects.create(country="NZ", name="New Zealand")
    assert Region.objects.get(pk=region.pk).monthly_limit == 10
