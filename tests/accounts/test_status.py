import re

import pytest
from django.utils import timezone

from accounts.models import AccountStatus, StatusReason
from accounts.services import clear_flag, flag_account, reactivate, suspend_account
from referrals.reasons import FLAGGED_MESSAGE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_flag_sets_status_reason_and_time():
    user = UserFactory()
    staff = UserFactory(is_staff=True)
    before = timezone.now()
    flag_account(member=user, reason_code=StatusReason.DEVICE_RING, actor=staff)
    user.refresh_from_db()
    assert user.status == AccountStatus.FLAGGED
    assert user.status_reason == "DEVICE_RING"
    assert user.status_changed_at >= before


def test_clear_flag_makes_a_flagged_account_active():
    user = UserFactory()
    flag_account(member=user, reason_code="SELF_REFERRAL")
    clear_flag(member=user)
    user.refresh_from_db()
    assert (user.status, user.status_reason) == (AccountStatus.ACTIVE, "")


def test_clear_flag_does_not_lift_a_suspension_and_flag_does_not_soften_one():
    user = UserFactory()
    suspend_account(member=user, reason_code=StatusReason.CHARGEBACK)
    clear_flag(member=user)
    flag_account(member=user, reason_code=StatusReason.STAFF_REVIEW)
    user.refresh_from_db()
    assert (user.status, user.status_reason) == (AccountStatus.SUSPENDED, "CHARGEBACK")


def test_reactivate_lifts_suspension():
    user = UserFactory()
    suspend_account(member=user, reason_code=StatusReason.TERMS_VIOLATION)
    reactivate(member=user)
    user.refresh_from_db()
    assert user.status == AccountStatus.ACTIVE


@pytest.mark.parametrize("reason", ["", "lower_case", "HAS SPACE", "X" * 41])
def test_reason_code_must_be_an_upper_snake_code(reason):
    user = UserFactory()
    with pytest.raises(ValueError, match="reason_code"):
        flag_account(member=user, reason_code=reason)
    user.refresh_from_db()
    assert user.status == AccountStatus.ACTIVE


# --- what a flagged member sees ------------------------------------------------------

_VOLATILE = [
    (re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"'), 'name="csrfmiddlewaretoken" value=""'),
    (re.compile(r'nonce="[^"]+"'), 'nonce=""'),
    (re.compile(r'name="next" value="[^"]*"'), 'name="next" value=""'),  # the language switcher comes back here
]


def _shape(html: str, message: str) -> str:
    html = html.replace(message, "MESSAGE")
    for pattern, replacement in _VOLATILE:
        html = pattern.sub(replacement, html)
    return html


@pytest.mark.urls("tests.accounts.urls_guard")
@pytest.mark.parametrize("status", [AccountStatus.FLAGGED, AccountStatus.SUSPENDED])
def test_flagged_or_suspended_member_gets_the_security_message_shaped_like_any_refusal(client, status):
    user = UserFactory(first_name="Fred")
    if status == AccountStatus.FLAGGED:
        flag_account(member=user, reason_code=StatusReason.DEVICE_RING)
    else:
        suspend_account(member=user, reason_code=StatusReason.CHARGEBACK)
    client.force_login(user)
    refused = client.get("/test/program-action/")
    other = client.get("/test/other-refusal/")
    html = refused.content.decode()
    assert refused.status_code == other.status_code == 403
    assert str(FLAGGED_MESSAGE) in html
    assert "DEVICE_RING" not in html and "CHARGEBACK" not in html  # the reason is for staff only
    assert "program action done" not in html
    assert _shape(html, str(FLAGGED_MESSAGE)) == _shape(other.content.decode(), "OTHER REASON")


@pytest.mark.urls("tests.accounts.urls_guard")
def test_active_member_passes_and_cleared_member_passes_again(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/test/program-action/").content == b"program action done"
    flag_account(member=user, reason_code=StatusReason.STAFF_REVIEW)
    assert client.get("/test/program-action/").status_code == 403
    clear_flag(member=user)
    assert client.get("/test/program-action/").content == b"program action done"


@pytest.mark.urls("tests.accounts.urls_guard")
def test_program_actions_need_login(client):
    response = client.get("/test/program-action/")
    assert response.status_code == 302
    assert "/accounts/login/" in response.url
