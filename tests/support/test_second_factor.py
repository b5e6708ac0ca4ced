"""Staff admin behind a second factor (docs/program-rules.md G5; support/second_factor.py)."""

from __future__ import annotations

import re
import time
from base64 import b32decode
from datetime import timedelta

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from support.admin.second_factor import check_code, check_staff_second_factor
from support.enrolment import create_enrolment_link
from support.models import AuditLog, StaffEnrolmentLink
from tests.concurrency import run_together
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECOND_FACTOR = "/admin/second-factor/"


@pytest.fixture(autouse=True)
def _required(settings):
    settings.STAFF_REQUIRE_2FA = True


def code_for(device: TOTPDevice, *, offset: int = 0) -> str:
    """The code an authenticator app shows now (or `offset` 30-second steps away)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def secret_on_page(html: str) -> bytes:
    typed = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")
    return b32decode(typed + "=" * (-len(typed) % 8))


def follow_setup_link(client) -> None:
    """What a staff member does with the e-mailed one-time link (support/enrolment.py)."""
    token = create_enrolment_link(user=client.user)
    assert client.post(reverse("staff_second_factor_enrol", args=[token])).url == SECOND_FACTOR


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def test_a_password_signed_in_staff_member_is_sent_to_the_second_factor(role_client):
    client = role_client("Support agent")
    for url in ("/admin/", "/admin/referrals/referral/", reverse("staff_dashboard")):
        response = client.get(url, follow=True)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == f"{SECOND_FACTOR}?next={url}"
        assert response.context["link_needed"] is True


def test_enrolment_shows_a_qr_code_and_the_key_and_a_first_code_opens_the_console(role_client):
    client = role_client("Support agent")
    follow_setup_link(client)
    page = client.get(SECOND_FACTOR + "?next=/admin/referrals/referral/")
    html = page.content.decode()
    assert "Set up your authenticator app" in html
    assert 'src="data:image/svg+xml' in html  # inline SVG QR code: no third-party service sees the secret
    device = TOTPDevice.objects.get(user=client.user)
    assert not device.confirmed
    assert secret_on_page(html) == device.bin_key  # what the member types equals the stored key

    response = client.post(SECOND_FACTOR, {"code": code_for(device), "next": "/admin/referrals/referral/"})
    assert response.status_code == 302
    assert response.url == "/admin/referrals/referral/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/referrals/referral/").status_code == 200
    log = AuditLog.objects.get(action="second factor enrolled")
    assert log.actor == client.user


def test_enrolment_survives_a_reload_with_the_same_key(role_client):
    client = role_client("Support agent")
    follow_setup_link(client)
    first = secret_on_page(client.get(SECOND_FACTOR).content.decode())
    second = secret_on_page(client.get(SECOND_FACTOR).content.decode())
    assert first == second
    assert TOTPDevice.objects.filter(user=client.user).count() == 1


def test_every_sign_in_asks_for_a_code_and_a_wrong_one_is_a_form_error(client, make_staff):
    user = make_staff("Fraud analyst")
    device = enrolled(user)
    client.force_login(user)
    page = client.get(SECOND_FACTOR)
    assert page.context["enrolling"] is False
    assert "staff-secret" not in page.content.decode()  # the key is never shown again
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(SECOND_FACTOR, {"code": wrong})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        "That code is not right. Enter the newest code your app shows."
    ], response.context["form"].errors
    assert client.get("/admin/").status_code == 302
    time.sleep(1.1)  # one failure: the next try is allowed after 1 second
    assert client.post(SECOND_FACTOR, {"code": code_for(device)}).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert AuditLog.objects.filter(action="second factor verified", actor=user).count() == 1


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "12 34 5x"])
def test_malformed_codes_are_form_errors(role_client, code):
    client = role_client("Support agent")
    follow_setup_link(client)
    response = client.post(SECOND_FACTOR, {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]


def test_a_code_works_once(client, make_staff):
    user = make_staff("Support agent")
    device = enrolled(user)
    code = code_for(device)
    assert check_code(device_id=device.pk, code=code) == (True, None)
    ok, problem = check_code(device_id=device.pk, code=code)
    assert not ok and problem


def test_repeated_wrong_codes_slow_down(client, make_staff):
    user = make_staff("Support agent")
    device = enrolled(user)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    client.force_login(user)
    client.post(SECOND_FACTOR, {"code": wrong})
    response = client.post(SECOND_FACTOR, {"code": code_for(device)})  # even the right code must wait
    assert response.context["form"].errors["code"] == [
        "Too many wrong codes in a row: wait 1 second, then enter the newest code."
    ]
    assert client.get("/admin/").status_code == 302


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_code_sent_by_six_threads_at_once_is_accepted_once(make_staff):
    device = enrolled(make_staff("Support agent"))
    code = code_for(device)
    results, errors = run_together(6, lambda i: check_code(device_id=device.pk, code=code)[0])
    assert errors == []
    assert results.count(True) == 1


def test_next_never_leaves_the_site(role_client):
    client = role_client("Support agent")
    follow_setup_link(client)
    client.get(SECOND_FACTOR)
    device = TOTPDevice.objects.get(user=client.user)
    response = client.post(SECOND_FACTOR, {"code": code_for(device), "next": "https://evil.example/"})
    assert response.url == "/admin/"


def test_verification_lasts_for_the_session_only(client, make_staff):
    user = make_staff("Support agent")
    device = enrolled(user)
    client.force_login(user)
    client.post(SECOND_FACTOR, {"code": code_for(device)})
    assert client.get("/admin/").status_code == 200
    client.post(reverse("admin:logout"))
    client.force_login(user)
    assert client.get("/admin/").status_code == 302


def test_the_admin_login_page_sends_a_signed_in_staff_member_to_the_code_page(role_client):
    client = role_client("Support agent")
    response = client.get(reverse("admin:login") + "?next=/admin/coupons/")
    assert response.status_code == 302
    assert response.url.startswith(SECOND_FACTOR) and "coupons" in response.url


def test_members_and_visitors_cannot_use_the_page(client):
    response = client.get(SECOND_FACTOR)
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))
    client.force_login(UserFactory())
    response = client.get(SECOND_FACTOR)
    assert response.status_code == 302 and response.url == reverse("admin:login")
    assert not TOTPDevice.objects.exists()


def test_when_not_required_staff_go_straight_in(role_client, settings):
    settings.STAFF_REQUIRE_2FA = False
    client = role_client("Support agent")
    assert client.get("/admin/").status_code == 200
    assert client.get(SECOND_FACTOR).url == "/admin/"


def test_check_deploy_warns_when_production_would_run_without_it(settings):
    settings.STAFF_REQUIRE_2FA = False
    assert [warning.id for warning in check_staff_second_factor(None)] == ["portal.W001"]
    settings.STAFF_REQUIRE_2FA = True
    assert check_staff_second_factor(None) == []


def test_after_three_wrong_codes_the_page_says_how_long_the_next_try_waits(client, make_staff):
    from datetime import timedelta

    from django.utils import timezone

    user = make_staff("Support agent")
    device = enrolled(user)
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_count=2, throttling_failure_timestamp=timezone.now() - timedelta(seconds=10)
    )
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    client.force_login(user)
    response = client.post(SECOND_FACTOR, {"code": wrong})
    assert response.context["form"].errors["code"] == [
        "That code is not right. Enter the newest code your app shows. "
        "After 3 wrong codes, the next try waits 4 seconds."
    ]


def test_a_lost_phone_is_reset_from_the_command_line_with_a_reason(make_staff):
    from django.core.management import CommandError, call_command

    user = make_staff("Support agent", email="lost.phone@example.com")
    enrolled(user)
    with pytest.raises(CommandError, match="No account"):
        call_command("reset_second_factor", "nobody@example.com", reason="ticket 1")
    call_command("reset_second_factor", "Lost.Phone@example.com", reason="lost phone, ticket 123")
    assert not TOTPDevice.objects.filter(user=user).exists()
    log = AuditLog.objects.get(action="second factor reset")
    assert log.reason == "lost phone, ticket 123" and log.target_id == str(user.pk)


# --- First enrolment: only through a one-time link (issue 16) -------------------------------------------------


def test_a_password_alone_shows_no_key_and_enrols_nothing(role_client):
    client = role_client("Support agent")
    page = client.get(SECOND_FACTOR)
    html = page.content.decode()
    assert page.context["link_needed"] is True
    assert "staff-secret" not in html and "data:image/svg+xml" not in html
    client.post(SECOND_FACTOR, {"code": "123456"})
    assert not TOTPDevice.objects.exists()
    assert client.get("/admin/").status_code == 302


def test_the_setup_link_is_emailed_to_the_staff_member_and_works_once(role_client, client, mailoutbox):
    staff_client = role_client("Support agent")
    staff_client.post(SECOND_FACTOR, {"send_link": "1"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [staff_client.user.email]
    link = re.search(r"http://testserver(/admin/second-factor/enrol/[^/\s]+/)", mailoutbox[0].body).group(1)
    confirm = staff_client.get(link)  # a mail scanner opening the link uses nothing
    assert confirm.context["confirm_link"] is True and not TOTPDevice.objects.exists()
    assert staff_client.post(link).url == SECOND_FACTOR
    assert "staff-secret" in staff_client.get(SECOND_FACTOR).content.decode()
    assert AuditLog.objects.filter(action="second factor link used", actor=staff_client.user).count() == 1
    staff_client.logout()
    staff_client.force_login(staff_client.user)
    again = staff_client.post(link)
    assert again.status_code == 400 and "not valid any more" in again.content.decode()
    assert "staff-secret" not in staff_client.get(SECOND_FACTOR).content.decode()


def test_a_setup_link_expires_after_thirty_minutes_and_belongs_to_one_staff_member(role_client, make_staff):
    import time_machine
    from django.utils import timezone

    client = role_client("Support agent")
    other = make_staff("Fraud analyst")
    theirs = create_enrolment_link(user=other)
    assert client.post(reverse("staff_second_factor_enrol", args=[theirs])).status_code == 400
    mine = create_enrolment_link(user=client.user)
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert client.post(reverse("staff_second_factor_enrol", args=[mine])).status_code == 400
    assert "staff-secret" not in client.get(SECOND_FACTOR).content.decode()


def test_setup_links_by_email_are_limited(role_client, mailoutbox):
    client = role_client("Support agent")
    for _ in range(4):
        response = client.post(SECOND_FACTOR, {"send_link": "1"})
    assert len(mailoutbox) == 3 and response.context["sent"] is False


def test_a_superuser_creates_a_setup_link_shown_once_and_audited(staff_client, make_staff, role_client, settings):
    settings.STAFF_REQUIRE_2FA = False  # the superuser's own session is past its second factor
    staff_member = make_staff("Support agent", email="new.agent@example.com")
    url = reverse("admin:support_staffenrolmentlink_add")
    response = staff_client.post(
        url, {"confirm": "yes", "staff_email": "new.agent@example.com", "reason": "Starts today, no mailbox yet"}
    )
    html = response.content.decode()
    assert re.search(r"/admin/second-factor/enrol/[^/]+/", html)
    link = StaffEnrolmentLink.objects.get(user=staff_member)
    assert link.created_by == staff_client.staff and len(link.token_hash) == 64
    audit = AuditLog.objects.get(action="second factor link created")
    assert (audit.actor, audit.target_id) == (staff_client.staff, str(staff_member.pk))
    manager = role_client("Program manager")
    assert (
        manager.post(url, {"confirm": "yes", "staff_email": "new.agent@example.com", "reason": "x" * 10}).status_code
        == 403
    )


def test_the_admin_never_shows_an_authenticator_key(staff_client, make_staff, settings):
    settings.STAFF_REQUIRE_2FA = False
    device = enrolled(make_staff("Support agent"))
    for name in ("otp_totp_totpdevice_config", "otp_totp_totpdevice_qrcode"):
        assert staff_client.get(reverse(f"admin:{name}", args=[device.pk])).status_code == 403
    page = staff_client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert device.key not in page
