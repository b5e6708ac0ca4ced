"""Readiness first on Invite Friends (docs/program-rules.md section 9): what stands between the member and a link
that earns comes before any share button, and share buttons appear only when sharing can earn."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region
from accounts.sms import LocmemSMSBackend
from referrals.readiness import readiness
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/invite/"
PHONE_SENTENCE = "Verify your phone number first"


def html(client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def main(page: str) -> str:
    return page.split('<main id="main"', 1)[1]


@pytest.mark.parametrize(
    ("fields", "country", "can_earn"),
    [
        ({"phone_verified": True}, "US", True),
        ({}, "US", False),  # no verified phone
        ({"phone_verified": True}, "RU", False),  # a country outside the program
        ({"phone_verified": True, "status": "flagged"}, "US", False),
        ({"phone_verified": True, "status": "suspended"}, "US", False),
    ],
)
def test_readiness_is_the_member_and_the_region(fields, country, can_earn):
    member = UserFactory(country=country, **fields)
    assert readiness(member=member, region=Region.objects.get(country=country)).can_earn is can_earn


def test_a_new_member_without_a_phone_reads_the_phone_form_first_and_no_share_buttons(client):
    client.force_login(UserFactory())
    page = main(html(client))
    assert PHONE_SENTENCE in page
    assert page.index("readiness") < page.index("Your friends")
    assert f'action="{reverse("accounts:phone")}"' in page and 'name="phone"' in page
    assert "share-buttons" not in page and "invite-link" not in page and "wa.me" not in page


def test_verifying_the_phone_from_invite_friends_comes_back_and_the_share_buttons_appear(client):
    member = UserFactory()
    client.force_login(member)
    sent = client.post(reverse("accounts:phone"), {"phone": "+14155550177", "next": URL})
    assert sent["Location"] == URL
    page = html(client)
    assert f'action="{reverse("accounts:phone_confirm")}"' in page  # the code form, right there
    code = re.search(r"\b(\d{6})\b", LocmemSMSBackend.outbox[-1].message).group(1)
    confirmed = client.post(reverse("accounts:phone_confirm"), {"code": code, "next": URL})
    assert confirmed["Location"] == URL
    page = main(html(client))
    assert PHONE_SENTENCE not in page
    assert "share-buttons" in page and "wa.me" in page


def test_next_never_leaves_the_site(client):
    client.force_login(UserFactory())
    sent = client.post(reverse("accounts:phone"), {"phone": "+14155550166", "next": "https://evil.example/"})
    assert sent["Location"] == reverse("accounts:phone")


def test_a_member_in_a_country_outside_the_program_is_told_first_with_no_share_and_no_amounts(client):
    client.force_login(UserFactory(country="RU", phone_verified=True))
    page = main(html(client))
    assert "The program does not run in your country." in page
    assert "share-buttons" not in page and "wa.me" not in page
    assert "RUB" not in page and "₽" not in page  # no "You get a RUB5.00 coupon", no "RUB0.00" tile
    assert "Coupons this month" not in page


def test_a_ready_member_reads_no_readiness_box(client):
    client.force_login(UserFactory(phone_verified=True, phone_verified_at=timezone.now()))
    page = main(html(client))
    assert 'id="readiness"' not in page
    assert page.index("share-buttons") < page.index("Coupons this month") < page.index("Your friends")


def test_sign_up_without_a_link_leads_to_phone_verification(client):
    response = client.post(
        reverse("accounts:signup"),
        {
            "first_name": "Nina",
            "last_name": "New",
            "email": "nina@example.com",
            "country": "US",
            "password": "A-long-enough-pass-2026",
            "referral_code": "",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == URL
    assert PHONE_SENTENCE in response.content.decode()


def test_a_friend_who_lands_on_my_coupons_after_sign_up_is_led_to_phone_verification(client):
    client.force_login(UserFactory())
    html = client.get("/coupons/").content.decode()
    assert "Verify my phone" in html and f'{URL}#readiness"' in html
    client.force_login(UserFactory(phone_verified=True))
    assert "Verify my phone" not in client.get("/coupons/").content.decode()


def test_a_wrong_number_sent_from_invite_friends_is_corrected_on_the_phone_page_and_still_goes_back(client):
    client.force_login(UserFactory())
    wrong = client.post(reverse("accounts:phone"), {"phone": "12", "next": URL})
    assert wrong.status_code == 400
    assert f'name="next" value="{URL}"' in wrong.content.decode()
    assert "data-error-summary" in wrong.content.decode()
    right = client.post(reverse("accounts:phone"), {"phone": "+14155550155", "next": URL})
    assert right["Location"] == URL
