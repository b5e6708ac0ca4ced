import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.forms import PhoneForm
from accounts.models import PhoneVerification
from accounts.phone import PHONE_TAKEN_MESSAGE, PhoneVerificationError, confirm_phone_code, request_phone_code
from accounts.sms import BaseSMSBackend, LocmemSMSBackend, SMSDeliveryError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PHONE = "+14155550123"
OTHER_PHONE = "+442079460958"


def last_code() -> str:
    return re.search(r"\b(\d{6})\b", LocmemSMSBackend.outbox[-1].message).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def verified_user(phone: str = PHONE, **kwargs):
    return UserFactory(phone=phone, phone_verified_at=timezone.now(), **kwargs)


# --- the form: international validation, E.164 --------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-0123", "", "+14155550123"),
        ("415 555 0123", "US", "+14155550123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+49 30 901820", "", "+4930901820"),
    ],
)
def test_phone_form_stores_e164(raw, region, expected):
    form = PhoneForm({"phone": raw}, default_region=region)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["phone"] == expected


@pytest.mark.parametrize("raw", ["", "12", "hello", "+1 555 555 5555", "+999 123456789", "415 555 0123 999 999"])
def test_phone_form_rejects_malformed_or_invalid_numbers_with_a_clear_error(raw):
    form = PhoneForm({"phone": raw}, default_region="US")
    assert not form.is_valid()
    assert form.errors["phone"]
    if raw:
        assert "not a valid phone number" in form.errors["phone"][0]


# --- codes: random, hashed, 10 minutes, single use, 5 attempts ---------------------


def test_a_code_is_six_random_digits_sent_by_sms_and_stored_only_as_a_keyed_hash():
    user = UserFactory()
    verification = request_phone_code(member=user, phone=PHONE)
    assert len(LocmemSMSBackend.outbox) == 1
    assert LocmemSMSBackend.outbox[0].phone == PHONE
    code = last_code()
    assert code not in verification.code_hash
    assert len(verification.code_hash) == 64
    assert verification.expires_at - verification.created_at == timedelta(minutes=10)
    # The number is not the member's until the code is confirmed.
    user.refresh_from_db()
    assert user.phone == "" and user.phone_verified_at is None


def test_codes_are_not_predictable():
    codes = set()
    for n in range(3):
        request_phone_code(member=UserFactory(), phone=f"+1415555012{n}")
        codes.add(last_code())
    assert len(codes) == 3


def test_the_right_code_verifies_the_phone():
    user = UserFactory()
    request_phone_code(member=user, phone=PHONE)
    confirm_phone_code(member=user, code=last_code())
    user.refresh_from_db()
    assert user.phone == PHONE
    assert user.phone_verified_at is not None
    assert PhoneVerification.objects.get(user=user).used_at is not None


def test_a_wrong_code_is_counted_and_says_how_many_attempts_are_left():
    user = UserFactory()
    request_phone_code(member=user, phone=PHONE)
    with pytest.raises(PhoneVerificationError) as error:
        confirm_phone_code(member=user, code=wrong(last_code()))
    assert error.value.code == "WRONG_CODE"
    assert "4 attempts left" in error.value.message
    assert PhoneVerification.objects.get(user=user).attempts == 1  # kept although the call raised


def test_after_five_wrong_attempts_even_the_right_code_is_refused():
    user = UserFactory()
    request_phone_code(member=user, phone=PHONE)
    code = last_code()
    for _ in range(5):
        with pytest.raises(PhoneVerificationError):
            confirm_phone_code(member=user, code=wrong(code))
    with pytest.raises(PhoneVerificationError) as error:
        confirm_phone_code(member=user, code=code)
    assert error.value.code == "TOO_MANY_ATTEMPTS"
    user.refresh_from_db()
    assert user.phone_verified_at is None


def test_a_code_lives_ten_minutes():
    user = UserFactory()
    with time_machine.travel("2026-03-02 12:00:00Z", tick=False) as clock:
        request_phone_code(member=user, phone=PHONE)
        code = last_code()
        clock.shift(timedelta(minutes=10))
        with pytest.raises(PhoneVerificationError) as error:
            confirm_phone_code(member=user, code=code)
        assert error.value.code == "CODE_EXPIRED"


def test_a_code_just_before_expiry_still_works():
    user = UserFactory()
    with time_machine.travel("2026-03-02 12:00:00Z", tick=False) as clock:
        request_phone_code(member=user, phone=PHONE)
        clock.shift(timedelta(minutes=9, seconds=59))
        confirm_phone_code(member=user, code=last_code())
    user.refresh_from_db()
    assert user.phone == PHONE


def test_a_code_works_once():
    user = UserFactory()
    request_phone_code(member=user, phone=PHONE)
    code = last_code()
    confirm_phone_code(member=user, code=code)
    with pytest.raises(PhoneVerificationError) as error:
        confirm_phone_code(member=user, code=code)
    assert error.value.code == "CODE_USED"


def test_only_the_latest_code_counts():
    user = UserFactory()
    request_phone_code(member=user, phone=PHONE)
    first = last_code()
    request_phone_code(member=user, phone=PHONE)
    second = last_code()
    if first != second:
        with pytest.raises(PhoneVerificationError):
            confirm_phone_code(member=user, code=first)
    confirm_phone_code(member=user, code=second)


def test_confirming_without_a_code_asks_for_one():
    with pytest.raises(PhoneVerificationError) as error:
        confirm_phone_code(member=UserFactory(), code="123456")
    assert error.value.code == "NO_CODE"


# --- rate limits ------------------------------------------------------------


def test_three_codes_per_member_per_hour():
    user = UserFactory()
    with time_machine.travel("2026-03-02 12:00:00Z", tick=False):
        for n in range(3):
            request_phone_code(member=user, phone=f"+1415555012{n}")
        with pytest.raises(PhoneVerificationError) as error:
            request_phone_code(member=user, phone="+14155550129")
    assert error.value.code == "RATE_LIMITED"
    assert len(LocmemSMSBackend.outbox) == 3
    assert PhoneVerification.objects.filter(user=user).count() == 3


def test_three_codes_per_phone_per_hour_whoever_asks():
    for _ in range(3):
        request_phone_code(member=UserFactory(), phone=PHONE)
    with pytest.raises(PhoneVerificationError) as error:
        request_phone_code(member=UserFactory(), phone=PHONE)
    assert error.value.code == "RATE_LIMITED"


@pytest.mark.redis
def test_rate_limit_counter_is_atomic_under_concurrency(redis_url, settings):
    """Ten threads race for three slots of one Redis-backed counter: exactly three win."""
    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url},
    }
    caches["default"].delete("test-race")
    barrier = threading.Barrier(10)
    results = []

    def worker():
        barrier.wait()
        results.append(services.hit_rate_limit(key="test-race", limit=3, window_seconds=60))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    caches["default"].delete("test-race")
    assert results.count(False) == 3
    assert results.count(True) == 7


def test_probing_taken_numbers_counts_against_the_member_limit():
    """Issue 16: "already verified on another account" is answered only after the attempt is counted, so a member
    cannot probe other accounts' numbers beyond the hourly limit."""
    for n in range(3):
        verified_user(f"+1415555013{n}")
    prober = UserFactory()
    for n in range(3):
        with pytest.raises(PhoneVerificationError) as taken:
            request_phone_code(member=prober, phone=f"+1415555013{n}")
        assert taken.value.code == "PHONE_TAKEN"
    with pytest.raises(PhoneVerificationError) as limited:
        request_phone_code(member=prober, phone="+14155550139")  # a free number: still over the limit
    assert limited.value.code == "RATE_LIMITED"
    assert LocmemSMSBackend.outbox == []


def test_probing_one_taken_number_from_many_accounts_counts_against_the_number_limit():
    verified_user(PHONE)
    for _ in range(3):
        with pytest.raises(PhoneVerificationError):
            request_phone_code(member=UserFactory(), phone=PHONE)
    with pytest.raises(PhoneVerificationError) as limited:
        request_phone_code(member=UserFactory(), phone=PHONE)
    assert limited.value.code == "RATE_LIMITED"  # the answer no longer says whether the number is taken


def test_no_log_line_ever_contains_a_verification_code(settings, caplog, tmp_path):
    """Issue 16: whatever the backend, the log has at most a masked number, never a message body or a code."""
    import logging

    from django.core.cache import cache

    settings.VAR_DIR = tmp_path
    for backend in ("accounts.sms.ConsoleSMSBackend", "accounts.sms.FileSMSBackend", "accounts.sms.LocmemSMSBackend"):
        settings.SMS_BACKEND = backend
        cache.clear()
        caplog.clear()
        user = UserFactory()
        with caplog.at_level(logging.DEBUG):
            request_phone_code(member=user, phone=PHONE)
            with pytest.raises(PhoneVerificationError):
                confirm_phone_code(member=user, code="000000")
        # Every logger of the portal and of Django (factory_boy's own debug lines are not the portal's).
        logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("factory"))
        assert PHONE not in logged
        assert not re.search(r"\d{6}", logged), logged
    # Development reads its codes in var/sms-outbox.txt instead.
    assert re.search(r"code is \d{6}", (tmp_path / "sms-outbox.txt").read_text())


# --- one verified phone per account -----------------------------------------------


def test_a_number_verified_on_another_account_is_refused_at_request():
    verified_user(PHONE)
    with pytest.raises(PhoneVerificationError) as error:
        request_phone_code(member=UserFactory(), phone=PHONE)
    assert error.value.message == PHONE_TAKEN_MESSAGE
    assert LocmemSMSBackend.outbox == []


def test_a_number_verified_elsewhere_meanwhile_is_refused_at_confirm_and_nothing_is_lost():
    user = verified_user(OTHER_PHONE)
    request_phone_code(member=user, phone=PHONE)
    code = last_code()
    verified_user(PHONE)  # someone else verified it in between
    with pytest.raises(PhoneVerificationError) as error:
        confirm_phone_code(member=user, code=code)
    assert error.value.message == PHONE_TAKEN_MESSAGE
    user.refresh_from_db()
    assert user.phone == OTHER_PHONE and user.phone_verified_at is not None


def test_failing_to_verify_a_new_number_keeps_the_verified_one():
    user = verified_user(OTHER_PHONE)
    request_phone_code(member=user, phone=PHONE)
    for _ in range(5):
        with pytest.raises(PhoneVerificationError):
            confirm_phone_code(member=user, code=wrong(last_code()))
    user.refresh_from_db()
    assert user.phone == OTHER_PHONE and user.phone_verified_at is not None


class RefusingBackend(BaseSMSBackend):
    def send(self, phone, message):
        raise SMSDeliveryError("provider down")


def test_sms_failure_stores_nothing(settings):
    settings.SMS_BACKEND = "tests.accounts.test_phone.RefusingBackend"
    with pytest.raises(PhoneVerificationError) as error:
        request_phone_code(member=UserFactory(), phone=PHONE)
    assert error.value.code == "SMS_FAILED"
    assert PhoneVerification.objects.count() == 0


# --- the pages ------------------------------------------------------------------


def test_phone_pages_need_login(client):
    assert client.get(reverse("accounts:phone")).status_code == 302


def test_sending_and_confirming_through_the_pages(client):
    user = UserFactory(country="US")
    client.force_login(user)
    response = client.post(reverse("accounts:phone"), {"phone": "(415) 555-0123"})
    assert response.status_code == 302
    page = client.get(reverse("accounts:phone"))
    assert "Enter the code" in page.content.decode()
    response = client.post(reverse("accounts:phone_confirm"), {"code": last_code()}, follow=True)
    assert "is verified" in response.content.decode()
    user.refresh_from_db()
    assert user.phone == PHONE


def test_malformed_number_is_a_form_error_not_a_500(client):
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:phone"), {"phone": "not a phone"})
    assert response.status_code == 400
    assert "not a valid phone number" in response.content.decode()
    assert PhoneVerification.objects.count() == 0


def test_taken_number_is_a_form_error_with_the_exact_message(client):
    verified_user(PHONE)
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:phone"), {"phone": PHONE})
    assert response.status_code == 400
    assert "This phone number is already verified on another account" in response.content.decode()


@pytest.mark.parametrize("code", ["12345", "abcdef", "1234567"])
def test_code_that_is_not_six_digits_is_a_form_error(client, code):
    user = UserFactory()
    client.force_login(user)
    request_phone_code(member=user, phone=PHONE)
    response = client.post(reverse("accounts:phone_confirm"), {"code": code})
    assert response.status_code == 400
    assert "Enter the 6 digits" in response.content.decode()
    assert PhoneVerification.objects.get(user=user).attempts == 0


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("wrong", "This code is not correct. 4 attempts left."),
        ("expired", "This code has expired. Request a new one."),
        ("used", "This code has already been used."),
        ("too_many", "Too many wrong attempts"),
    ],
)
def test_bad_codes_get_a_clear_form_error_through_the_page(client, setup, expected):
    user = verified_user(OTHER_PHONE)
    client.force_login(user)
    with time_machine.travel("2026-03-02 12:00:00Z", tick=False) as clock:
        request_phone_code(member=user, phone=PHONE)
        code = last_code()
        if setup == "wrong":
            code = wrong(code)
        elif setup == "expired":
            clock.shift(timedelta(minutes=11))
        elif setup == "used":
            confirm_phone_code(member=user, code=code)
        elif setup == "too_many":
            PhoneVerification.objects.filter(user=user).update(attempts=5)
        response = client.post(reverse("accounts:phone_confirm"), {"code": code})
    assert response.status_code == 400
    assert expected in response.content.decode()
    user.refresh_from_db()
    assert user.phone_verified_at is not None  # the existing verified number is never lost
