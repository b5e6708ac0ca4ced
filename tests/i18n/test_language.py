"""Which language a reader gets, and that e-mails and notices follow their recipient (docs/translations.md).

- a signed-in member: their profile language, whatever the browser says;
- a visitor: the best match of Accept-Language (pt-BR → pt-br), or the switcher's cookie;
- the switcher: a POST that comes back to the page it was sent from, only to a URL on this site;
- e-mails and notices: the recipient's language, money locale and time zone, whoever triggers them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Notification, Region, User
from accounts.notify import email_notices
from coupons.services.lifecycle import send_expiry_reminders
from referrals.services.notices import notify_credited, notify_limit_reached
from tests.factories import CouponFactory, ReferralCodeFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db


def html_lang(response) -> str:
    text = response.content.decode()
    return text.split('<html lang="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(
    ("accept", "lang", "words"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Freunde einladen"),
        ("fr-CA,fr;q=0.8", "fr", "Comment ça marche"),
        ("es-MX,es;q=0.9", "es", "Cómo funciona"),
        ("pt-BR,pt;q=0.9", "pt-br", "Como funciona"),
        ("ja-JP", "en", "How it works"),
    ],
)
def test_a_visitor_gets_the_best_match_of_accept_language(client, accept, lang, words):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)
    assert html_lang(response) == lang
    assert words in response.content.decode()


def test_a_signed_in_members_profile_language_wins_over_the_browser(client):
    member = UserFactory(language="fr")
    client.force_login(member)
    response = client.get(reverse("coupons:wallet"), HTTP_ACCEPT_LANGUAGE="de")
    assert html_lang(response) == "fr"
    assert "Mes coupons" in response.content.decode()


def test_the_invitation_landing_page_speaks_the_friends_language(client):
    code = ReferralCodeFactory(user__first_name="Rosa", user__phone_verified=True)
    client.get(reverse("referrals:click", args=[code.code]), HTTP_ACCEPT_LANGUAGE="pt-BR")
    response = client.get(reverse("referrals:landing"), HTTP_ACCEPT_LANGUAGE="pt-BR")
    text = response.content.decode()
    assert html_lang(response) == "pt-br"
    assert "Rosa convidou você para participar" in text
    assert "invited you" not in text


def test_every_page_has_a_language_switcher_that_keeps_the_page(client):
    response = client.get(reverse("referrals:rules") + "?x=1")
    text = response.content.decode()
    assert f'action="{reverse("set_language")}" method="post"' in text
    assert f'name="next" value="{reverse("referrals:rules")}?x=1"' in text
    for code, name in settings.LANGUAGES:
        assert f'<option value="{code}" lang="{code}"' in text and name in text


def test_the_switcher_changes_a_visitors_language_and_comes_back(client):
    rules = reverse("referrals:rules")
    response = client.post(reverse("set_language"), {"language": "es", "next": rules})
    assert response.status_code == 302 and response["Location"] == rules
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    page = client.get(rules, HTTP_ACCEPT_LANGUAGE="de")  # the choice beats the browser
    assert html_lang(page) == "es"


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/rules/", "javascript:alert(1)"])
def test_the_switcher_never_redirects_off_the_site(client, unsafe):
    response = client.post(reverse("set_language"), {"language": "de", "next": unsafe})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_the_switcher_only_answers_a_post(client):
    assert client.get(reverse("set_language")).status_code == 405


def test_a_members_choice_becomes_their_profile_language(client):
    member = UserFactory(language="en")
    client.force_login(member)
    client.post(reverse("set_language"), {"language": "pt-br", "next": "/"})
    member.refresh_from_db()
    assert member.language == "pt-br"
    assert html_lang(client.get(reverse("coupons:wallet"))) == "pt-br"


def test_an_unknown_language_changes_nothing(client):
    member = UserFactory(language="de")
    client.force_login(member)
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    member.refresh_from_db()
    assert member.language == "de"


def test_the_profile_no_longer_offers_a_display_currency(client):
    member = UserFactory(language="de")
    client.force_login(member)
    text = client.get(reverse("accounts:profile")).content.decode()
    assert 'name="currency"' not in text
    assert not hasattr(User, "currency") or "currency" not in [f.name for f in User._meta.get_fields()]


# --- E-mails and notices: the recipient's language, whoever triggers them ----------------------------------


def test_a_reward_notice_is_in_the_referrers_language_and_locale_though_an_english_request_triggers_it(
    django_capture_on_commit_callbacks,
):
    Region.objects.create(country="DE", name="Germany", currency="EUR", locale="de_DE")
    referral = ReferralFactory(referrer__language="de", referrer__country="DE", friend__first_name="Lena")
    coupon = CouponFactory(
        referral=referral,
        value=Decimal("5.00"),
        min_spend=Decimal("20.00"),
        currency="EUR",
        expires_at=datetime(2026, 12, 31, 22, 0, tzinfo=UTC),
    )
    translation.activate("en")  # e.g. a staff member's English request, or a worker
    with django_capture_on_commit_callbacks(execute=True):
        notify_credited(referral=referral, coupon=coupon)
    notice = Notification.objects.get(user=referral.referrer, kind="referral_credited")
    assert notice.title == "Du hast einen Gutschein über 5,00\xa0€ verdient"
    assert "Mindestbestellwert 20,00\xa0€" in notice.body and "31. Dezember 2026" in notice.body
    # The worker e-mails it later (accounts.notify.email_notices), in its own (here English) language.
    email_notices(dedupe_keys=[notice.dedupe_key])
    (email,) = mail.outbox
    assert email.subject == notice.title
    assert email.body.startswith(f"Hallo {referral.referrer.first_name},")
    html = email.alternatives[0][0]
    assert '<html lang="de">' in html and "Referral Portal öffnen" in html
    assert translation.get_language() == "en"  # the caller's language is left as it was


def test_a_limit_notice_names_the_month_in_the_referrers_language():
    referral = ReferralFactory(referrer__language="pt-br")
    notify_limit_reached(referral=referral, month=datetime(2026, 12, 1).date(), limit=10)
    notice = Notification.objects.get(user=referral.referrer)
    assert notice.title == "Você atingiu o limite do mês: 10 de 10 cupons de indicação"
    assert "dezembro de 2026" in notice.body.lower()


def test_the_expiry_sweep_writes_each_reminder_in_its_owners_language_and_time_zone():
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    expires = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # already 8 December in Madrid
    spanish = UserFactory(language="es", country="ES", time_zone="Europe/Madrid")
    english = UserFactory(language="en", time_zone="UTC")
    for owner in (spanish, english):
        CouponFactory(owner=owner, issued_at=now - timedelta(days=20), expires_at=expires)
    with time_machine.travel(now, tick=False):
        assert send_expiry_reminders(now=now) == 2
    es = Notification.objects.get(user=spanish)
    en = Notification.objects.get(user=english)
    assert es.title == "Tu cupón de 5,00\xa0US$ caduca el 8 de diciembre de 2026"
    assert "00:30 (Europe/Madrid)" in es.body
    assert en.title == "Your $5.00 coupon expires on 7 Dec 2026"
    assert "7 Dec 2026, 23:30 (UTC)" in en.body


def test_the_password_reset_e_mail_is_in_the_accounts_language(client):
    UserFactory(email="claire@example.com", language="fr")
    client.post(reverse("accounts:password_reset"), {"email": "claire@example.com"}, HTTP_ACCEPT_LANGUAGE="en")
    (email,) = mail.outbox
    assert email.subject == "Réinitialisez votre mot de passe Referral Portal"
    assert "Si ce n’était pas vous" in email.body


def test_a_new_member_keeps_the_language_they_signed_up_in_and_their_e_mails_follow_it(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("accounts:signup"),
            {
                "first_name": "Ana",
                "last_name": "Silva",
                "email": "ana@example.com",
                "country": "BR",
                "password": "a-long-passphrase-4-tests",
            },
            HTTP_ACCEPT_LANGUAGE="pt-BR",
        )
    assert User.objects.get(email="ana@example.com").language == "pt-br"  # the language she signed up in
    assert mail.outbox[0].subject == "Confirme seu e-mail para o Referral Portal"
    mail.outbox.clear()
    client.post(reverse("accounts:resend_verification"), HTTP_ACCEPT_LANGUAGE="de")
    (email,) = mail.outbox
    assert email.subject == "Confirme seu e-mail para o Referral Portal"
    assert email.body.startswith("Olá, Ana,")


def test_the_error_page_speaks_the_language_of_the_request(rf):
    from referral_portal.views import server_error

    with translation.override("de"):
        response = server_error(rf.get("/"))
    text = response.content.decode()
    assert response.status_code == 500
    assert '<html lang="de">' in text and "Bei uns ist etwas schiefgelaufen" in text


def test_the_crediting_sweep_writes_each_referrers_notices_in_their_language():
    """The batched sweep (referrals.services.batch) builds many notices at once: each in its referrer's words."""
    from referrals.models import MonthlyRewardCounter
    from referrals.program import program_month
    from referrals.services import credit_due_referrals
    from tests.referrals.test_crediting import qualified

    german, english = UserFactory(language="de"), UserFactory(language="en")
    MonthlyRewardCounter.objects.create(
        referrer=german, month=program_month(at=timezone.now(), time_zone="UTC"), count=9
    )
    qualified(german)
    qualified(english)
    translation.activate("fr")  # the worker's own language must not leak into anyone's notice
    assert credit_due_referrals() == {"credited": 2}
    titles = dict(Notification.objects.filter(kind="referral_credited").values_list("user_id", "title"))
    assert titles[german.pk] == "Du hast einen Gutschein über 5,00\xa0$ verdient"
    assert titles[english.pk] == "You earned a $5.00 coupon"
    limit = Notification.objects.get(user=german, kind="referral_monthly_limit")
    assert limit.title == "Monatslimit erreicht: 10 von 10 Empfehlungsgutscheinen"
