"""The friend's whole journey and the referrer's pages in German and in Brazilian Portuguese (issue 17).

The friend's browser speaks the language (Accept-Language from the browser's locale); the referrer chose it in
their profile. On every page: `<html lang>` is the language, no English sentence is left in the main content,
and at 390 px nothing scrolls sideways with the longer words.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from coupons.models import Coupon
from orders.models import Order
from referral_portal import catalogs
from referrals.models import Referral
from referrals.services import credit_due_referrals
from tests.e2e.test_referral_journey import FRIEND_UA, REFERRER_UA, broker_queue, new_page, shoot, whatsapp_link
from tests.factories import ProductFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

__all__ = ["broker_queue", "new_page", "shoot"]  # fixtures shared with the English journey

# Words every English sentence of the portal uses and neither German nor Portuguese has.
ENGLISH_WORDS = re.compile(r"\b(the|your|you|and|with|this|have|when|please|our|will|from|are|is)\b", re.IGNORECASE)


def english_sentences(language: str) -> list[str]:
    """Each English message's longest literal stretch (placeholders and tags removed) that the language changes."""
    catalog = read_po(catalogs.po_path(language).open("rb"), locale=language.replace("-", "_"))
    found = []
    for message in catalog:
        if not message.id:
            continue
        source = message.id[0] if isinstance(message.id, tuple) else message.id
        target = message.string[0] if isinstance(message.string, tuple) else message.string
        pieces = re.split(r"%\([a-z_0-9]+\)s|<[^>]+>|%%", source)
        longest = max(pieces, key=len).strip(" .,:;·—")
        if len(longest) >= 12 and " " in longest and longest not in target:
            found.append(longest)
    return found


def assert_speaks(page, language: str, sentences: list[str]) -> None:
    """The page is marked as `language` and its main content has no English left."""
    assert page.locator("html").get_attribute("lang") == language
    main = page.locator("main").inner_text()
    left = sorted({s for s in sentences if s in main})
    assert not left, f"{page.url}: English left in the main content: {left[:5]}"
    words = sorted({w.lower() for w in ENGLISH_WORDS.findall(main)})
    assert not words, f"{page.url}: English words in the main content: {words}\n{main[:1500]}"


CASES = {
    "de": {
        "locale": "de-DE",
        "invite_h1": "Teile deinen Link, verdiene Gutscheine",
        "landing_h1": "Rosa lädt dich ein",
        "package": "24,00\xa0$",
        "welcome_title": "Willkommensgutschein",
        "credited": "Gutgeschrieben",
        "reward_title": "Empfehlungsprämie",
        "reward_value": "5,00\xa0$",
    },
    "pt-br": {
        "locale": "pt-BR",
        "invite_h1": "Compartilhe seu link e ganhe cupons",
        "landing_h1": "Rosa convidou você para participar",
        "package": "US$\xa024,00",
        "welcome_title": "Cupom de boas-vindas",
        "credited": "Creditada",
        "reward_title": "Recompensa por indicação",
        "reward_value": "US$\xa05,00",
    },
}


@pytest.mark.parametrize("language", ["de", "pt-br"])
def test_the_friend_journey_and_the_referrers_pages_speak_the_readers_language(
    browser, live_server, new_page, shoot, login, broker_queue, language, settings
):
    settings.SHOP_SIMULATION = True  # as `make run`: the friend walks the order with the demo shop's controls
    case = CASES[language]
    sentences = english_sentences(language)
    referrer = UserFactory(phone_verified=True, first_name="Rosa", language=language, country="US")
    store = StoreFactory(name="Peak Outfitters", slug="peak-outfitters")
    ProductFactory(store=store, name="Trail Backpack", price=Decimal("45.00"))

    # The referrer's pages, in the language of their profile.
    rosa = new_page(REFERRER_UA)
    login(rosa, referrer)
    rosa.goto("/invite/")
    assert rosa.locator("h1").inner_text() == case["invite_h1"]
    assert_speaks(rosa, language, sentences)
    shoot(rosa, f"i18n-{language}-01-referrer-invite", phone=True)
    for path, name in [("/invite/rules/", "rules"), ("/coupons/", "my-coupons"), ("/accounts/profile/", "profile")]:
        rosa.goto(path)
        assert_speaks(rosa, language, sentences)
        shoot(rosa, f"i18n-{language}-02-referrer-{name}", phone=True)
    rosa.goto("/invite/")
    shared = whatsapp_link(rosa)

    # The friend's browser speaks the language: the invitation's landing page does too.
    sam = browser.new_context(
        base_url=live_server.url, locale=case["locale"], user_agent=FRIEND_UA, screen={"width": 1440, "height": 900}
    ).new_page()
    sam.set_default_timeout(10_000)
    sam.goto(shared)
    sam.wait_for_url("**/join/")
    assert sam.locator("h1").inner_text() == case["landing_h1"]
    assert case["package"] in sam.locator(".page-header").inner_text()
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-03-friend-landing", phone=True)

    sam.locator(".page-header-actions a.btn-primary").click()
    sam.wait_for_url("**/accounts/signup/")
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-04-friend-signup", phone=True)
    sam.fill("#id_first_name", "Sam")
    sam.fill("#id_last_name", "Okafor")
    sam.fill("#id_email", f"sam.{language}@example.net")
    sam.select_option("#id_country", "US")
    sam.fill("#id_password", "a-long-friendly-passphrase-7")
    sam.locator("main form button[type=submit]").click()
    sam.wait_for_url("**/coupons/")
    friend = Referral.objects.get(friend__email=f"sam.{language}@example.net").friend
    assert friend.language == language  # the language Sam signed up in stays Sam's
    assert set(sam.locator(".coupon-list .coupon-title").all_inner_texts()) == {case["welcome_title"]}
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-05-friend-welcome-coupons", phone=True)

    # Shop → cart → checkout → order → the demo shop's steps → receipt confirmed.
    sam.goto("/shop/")
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-06-friend-shop", phone=True)
    sam.get_by_role("article", name="Trail Backpack").locator("button[type=submit]").click()
    expect(sam.locator(".messages")).to_contain_text("Trail Backpack")
    sam.goto("/shop/cart/")
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-07-friend-cart", phone=True)
    sam.goto("/shop/checkout/")
    sam.fill("#id_card_label", "Visa 4242")
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-08-friend-checkout", phone=True)
    sam.locator("button[name=action][value=pay]").click()
    sam.wait_for_url(re.compile(r".*/orders/[^/]+/$"))
    order = Order.objects.get(buyer=friend)
    assert sam.url.endswith(f"/orders/{order.external_id}/")
    assert_speaks(sam, language, sentences)
    for action in ("mark-paid", "mark-shipped", "confirm-receipt"):
        with sam.expect_navigation():
            sam.locator(f"form[action$='/{action}/'] button").click()
    assert_speaks(sam, language, sentences)
    shoot(sam, f"i18n-{language}-09-friend-order-completed", phone=True)
    sam.goto("/orders/")
    assert_speaks(sam, language, sentences)

    # The sweep credits the referrer (the worker does not run in tests); their pages say so in their language.
    assert credit_due_referrals() == {"credited": 1}
    assert Coupon.objects.filter(owner=referrer, source="referral").count() == 1
    rosa.goto("/invite/")
    assert rosa.locator(".referral-card .badge").inner_text() == case["credited"]
    assert_speaks(rosa, language, sentences)
    shoot(rosa, f"i18n-{language}-10-referrer-credited", phone=True)
    rosa.goto("/coupons/")
    assert rosa.locator(".coupon-list .coupon-title").all_inner_texts() == [case["reward_title"]]
    assert case["reward_value"] in rosa.locator(".coupon-list .coupon-value").first.inner_text()
    assert_speaks(rosa, language, sentences)
    shoot(rosa, f"i18n-{language}-11-referrer-my-coupons", phone=True)
    sam.context.close()
