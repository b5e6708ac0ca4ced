"""Amounts in the member's locale (docs/program-rules.md section 7): which locale, per request, in notices."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from accounts.locales import member_money_locale, member_money_locale_choice, money_locale
from accounts.models import Region
from coupons.services import send_expiry_reminders
from lib.money import active_money_locale, format_money, use_money_locale
from tests.factories import CouponFactory, ReferralCodeFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

NBSP = "\xa0"


# --- which locale ------------------------------------------------------------------------------


def test_language_and_country_make_the_locale_when_babel_knows_them():
    assert money_locale(language="en", country="DE") == "en_DE"
    assert money_locale(language="fr", country="CA") == "fr_CA"
    assert format_money(Decimal("4"), "EUR", "en_DE") == f"4,00{NBSP}€"  # Babel's exact en_DE output
    assert format_money(Decimal("4"), "CAD", "fr_CA") == f"4,00{NBSP}$"  # fr_FR would say "4,00 $CA"


def test_an_unknown_combination_takes_the_regions_locale_only_in_the_same_language():
    # es_DE is not a Babel locale: a German region's de_DE is another language, so es's default.
    assert money_locale(language="es", country="DE", region_locale="de_DE") == "es_ES"
    # de_US is not a Babel locale either: a region locale in German wins over de_DE.
    assert money_locale(language="de", country="US", region_locale="de-ch") == "de_CH"
    assert money_locale(language="de", country="US", region_locale="en_US") == "de_DE"
    # A region locale Babel does not know is ignored, not an error.
    assert money_locale(language="de", country="US", region_locale="de_XX") == "de_DE"
    assert money_locale(language="en", country="", region_locale="") == "en_US"


def test_the_region_is_read_only_when_language_and_country_do_not_decide():
    def region_locale() -> str:
        raise AssertionError("region read")

    assert money_locale(language="en", country="DE", region_locale=region_locale) == "en_DE"


def test_a_member_in_an_unlisted_country_gets_the_default_regions_locale_when_the_language_matches():
    Region.objects.filter(is_default=True).update(locale="en_IE")
    assert member_money_locale(UserFactory(language="en", country="ZZ")) == "en_IE"
    assert member_money_locale(UserFactory(language="fr", country="ZZ")) == "fr_FR"


def test_anonymous_and_background_formatting_keep_the_language_default():
    assert format_money(Decimal("5"), "EUR") == "€5.00"
    with translation.override("de"):
        assert format_money(Decimal("5"), "EUR") == f"5,00{NBSP}€"


def test_the_request_locale_is_resolved_once_not_per_amount():
    member = UserFactory(language="de", country="US")  # de_US unknown: needs the region (one query)
    with (
        use_money_locale(member_money_locale_choice(member)),
        translation.override("de"),
        CaptureQueriesContext(connection) as ctx,
    ):
        texts = {format_money(Decimal(n % 7), "USD") for n in range(300)}
    assert len(ctx.captured_queries) == 1
    assert f"5,00{NBSP}$" in texts
    assert active_money_locale() == "en_US"  # left the block: back to the language default


# --- per request -------------------------------------------------------------------------------


@pytest.fixture
def germany():
    return Region.objects.create(country="DE", name="Germany", currency="EUR", locale="de_DE")


def reward_on_rules_page(client) -> str:
    body = client.get(reverse("referrals:rules")).content.decode()
    return body.split("you get a ", 1)[1].split(" coupon", 1)[0]


def test_members_in_sequence_on_one_thread_each_get_their_own_locale(germany):
    berlin, boston = Client(), Client()
    berlin.force_login(UserFactory(language="en", country="DE"))
    boston.force_login(UserFactory(language="en", country="US"))
    assert reward_on_rules_page(berlin) == f"5,00{NBSP}€"
    assert reward_on_rules_page(boston) == "$5.00"
    assert reward_on_rules_page(Client()) == "$5.00"  # anonymous: default region, en_US as before
    assert reward_on_rules_page(berlin) == f"5,00{NBSP}€"
    assert active_money_locale() == "en_US"  # nothing leaks past the response


def test_landing_uses_the_regions_locale_when_the_visitors_language_matches(client, monkeypatch):
    Region.objects.create(
        country="CA", name="Canada", currency="CAD", locale="fr_CA", welcome_package=[{"value": "4.00"}]
    )
    monkeypatch.setattr("referrals.views.ip_country", lambda ip: "CA")  # where the landing view looks it up
    code = ReferralCodeFactory()
    client.get(reverse("referrals:click", args=[code.code]))
    french = client.get(reverse("referrals:landing"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert f"4,00{NBSP}$" in french and "$CA" not in french
    english = client.get(reverse("referrals:landing"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "CA$4.00" in english  # the region speaks French: an English visitor keeps en_US
    assert active_money_locale() == "en_US"


# --- notices built outside the member's request -------------------------------------------------


def test_expiry_reminder_uses_the_owners_locale_not_the_callers(germany):
    owner = UserFactory(language="en", country="DE")
    CouponFactory(
        owner=owner,
        value=Decimal("4.00"),
        min_spend=Decimal("5.00"),
        currency="EUR",
        expires_at=timezone.now() + timedelta(days=2),
    )
    someone_else = UserFactory(language="fr", country="CA")
    with use_money_locale(member_money_locale_choice(someone_else)), translation.override("fr"):
        assert send_expiry_reminders() == 1
    notice = owner.notifications.get()
    assert notice.title.startswith(f"Your 4,00{NBSP}€ coupon")
    assert f"minimum spend 5,00{NBSP}€" in notice.body


def test_credited_notice_uses_the_referrers_locale(germany):
    from referrals.services.notices import notify_credited

    referral = ReferralFactory(
        whatsapp_3_days_ago=True, referrer=UserFactory(language="fr", country="CA"), state="credited"
    )
    coupon = CouponFactory(owner=referral.referrer, value=Decimal("4.00"), min_spend=Decimal("5.00"), currency="CAD")
    notify_credited(referral=referral, coupon=coupon)
    notice = referral.referrer.notifications.get()
    assert notice.title == f"Vous avez gagné un coupon de 4,00{NBSP}$"  # the words in French too (issue 17)
