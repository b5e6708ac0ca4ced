"""The staff pages' faster paths give what Django's own gave (docs/performance.md, marketplace scale)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib import admin as django_admin
from django.contrib.admin import AdminSite, ModelAdmin
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone, translation

from accounts.admin.member_page import linked_accounts
from coupons.models import Coupon
from lib.i18n import field_display
from referrals.admin.panels import timeline_html
from referrals.models import Referral, ReferralEvent
from support.templatetags import staff as staff_tag
from tests.factories import AccountDeviceFactory, CouponFactory, PaymentCardFactory, UserFactory
from tests.support.builders import referral_with_timeline
from tests.support.conftest import make_staff, role_client, staff_roles  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_row_checkbox_is_djangos():
    coupon = CouponFactory()
    model_admin = admin.site._registry[Coupon]
    assert model_admin.action_checkbox(coupon) == ModelAdmin.action_checkbox(model_admin, coupon)


def test_the_app_list_is_djangos():
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    site = admin.site._wrapped if hasattr(admin.site, "_wrapped") else admin.site

    def plain(app_dict):
        return {
            label: {**app, "name": str(app["name"]), "models": [{**m, "name": str(m["name"])} for m in app["models"]]}
            for label, app in app_dict.items()
        }

    with translation.override("de"):
        assert plain(site._build_app_dict(request)) == plain(AdminSite._build_app_dict(site, request))
        assert plain(site._build_app_dict(request, "referrals")) == plain(
            AdminSite._build_app_dict(site, request, "referrals")
        )


@pytest.mark.parametrize("language", ["en", "de", "pt-br"])
def test_field_display_is_get_display(language):
    referral = referral_with_timeline(state="under_review", reason_code="IP_BURST")
    with translation.override(language):
        assert field_display(referral, "state") == referral.get_state_display()
        assert field_display(referral, "channel") == referral.get_channel_display()
        referral.state = "no-such-state"
        assert field_display(referral, "state") == referral.get_state_display() == "no-such-state"


def test_linked_accounts_are_those_sharing_a_device_or_a_card():
    member = UserFactory()
    by_device, by_card, by_both, stranger = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    shared_device = AccountDeviceFactory(user=member).device
    AccountDeviceFactory(user=by_device, device=shared_device)
    AccountDeviceFactory(user=by_both, device=shared_device)
    AccountDeviceFactory(user=stranger)
    card = PaymentCardFactory(user=member)
    PaymentCardFactory(user=by_card, fingerprint=card.fingerprint)
    PaymentCardFactory(user=by_both, fingerprint=card.fingerprint)
    PaymentCardFactory(user=stranger)

    found = {account.pk: (account.shares_device, account.shares_card) for account in linked_accounts(member=member)}

    assert found == {by_device.pk: (True, False), by_card.pk: (False, True), by_both.pk: (True, True)}


def test_the_review_queue_is_oldest_request_first_and_filters_by_the_codes_under_review(role_client):  # noqa: F811
    client = role_client("Fraud analyst")
    now = timezone.now()
    # Registered first, asked for review last: the queue goes by the request.
    late = referral_with_timeline(state="under_review", reason_code="IP_BURST", review_requested_at=now)
    early = referral_with_timeline(
        state="under_review", reason_code="DISPOSABLE_EMAIL", review_requested_at=now - timedelta(hours=3)
    )
    Referral.objects.filter(pk=late.pk).update(registered_at=now - timedelta(days=2))
    referral_with_timeline(state="rejected", reason_code="SELF_REFERRAL")

    url = reverse("admin:referrals_referralreview_changelist")
    response = client.get(url)
    assert [r.pk for r in response.context["cl"].result_list] == [early.pk, late.pk]
    spec = next(f for f in response.context["cl"].filter_specs if f.parameter_name == "reason_code__exact")
    assert [code for code, _ in spec.lookup_choices] == ["DISPOSABLE_EMAIL", "IP_BURST"]
    filtered = client.get(url, {"reason_code__exact": "IP_BURST"})
    assert [r.pk for r in filtered.context["cl"].result_list] == [late.pk]


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata", "America/Sao_Paulo"])
@pytest.mark.parametrize("language", ["en", "de", "pt-br"])
def test_stamp_prints_what_the_date_filter_prints(time_zone, language):
    """`|stamp` is Django's `|date` for formats of digits only; anything else goes to Django's filter."""
    formats = ['"Y-m-d H:i"', '"YmdHi"', "'c'", '"Y-m-d"', '"H:i:s"', '"d.m.Y {H}"', '"j M Y, H:i"']
    formats.append('"DATETIME_FORMAT"')
    values = [
        datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(2026, 12, 31, 22, 30, tzinfo=UTC),
        datetime(2026, 7, 4, 3, 5),  # naive
        date(2026, 2, 3),
        None,
        "",
    ]

    def render(name, fmt, value):
        try:
            return Template(f"{{% load staff %}}{{{{ v|{name}:{fmt} }}}}").render(Context({"v": value}))
        except TypeError as error:  # Django's filter: a time format for a date
            return type(error)

    with timezone.override(time_zone), translation.override(language):
        for fmt in formats:
            for value in values:
                assert render("stamp", fmt, value) == render("date", fmt, value), (fmt, value)


def test_the_cached_menu_is_djangos_for_each_staff_member_page_and_language(make_staff):  # noqa: F811
    """The menu is rendered once per menu content, path and language: each staff member still sees their own
    menu (their permissions), with the current page marked, in their language."""
    staff_tag._SIDEBARS.clear()
    manager, agent = make_staff("Program manager"), make_staff("Support agent")
    superuser = UserFactory(is_staff=True, is_superuser=True)
    ours = Template("{% include 'admin/nav_sidebar.html' %}")
    djangos = Template(Path(django_admin.__file__).parent.joinpath("templates/admin/nav_sidebar.html").read_text())
    seen = {}
    for _ in range(2):  # the second round is served from the cache
        for user in (manager, agent, superuser):
            for path in ("/admin/referrals/referral/", "/admin/accounts/user/", "/admin/accounts/user/7/change/"):
                for language in ("en", "de"):
                    request = RequestFactory().get(path)
                    request.user = user
                    with translation.override(language):
                        context = {"request": request, "available_apps": admin.site.get_app_list(request)}
                        html = ours.render(Context(context))
                        assert html == djangos.render(Context(context)), (user, path, language)
                    seen.setdefault((user.pk, path, language), html)
                    assert seen[(user.pk, path, language)] == html
    # The cases differ (so the cache must tell them apart): each member's menu, the current page, the language.
    assert len({seen[(user.pk, "/admin/referrals/referral/", "en")] for user in (manager, agent, superuser)}) == 3
    assert (
        seen[(superuser.pk, "/admin/referrals/referral/", "en")] != seen[(superuser.pk, "/admin/accounts/user/", "en")]
    )
    assert seen[(superuser.pk, "/admin/accounts/user/", "en")] != seen[(superuser.pk, "/admin/accounts/user/", "de")]
    assert 'aria-current="page">' in seen[(superuser.pk, "/admin/accounts/user/", "en")]


# admin/referrals/timeline.html as it was (an include per referral) before `timeline_html` replaced it.
TIMELINE_TEMPLATE = """{% load i18n staff %}{% if events %}<ol class="staff-timeline">
{% for event in events %}<li><time datetime="{{ event.occurred_at|date:'c' }}">{{ event.occurred_at|date:"Y-m-d H:i" }}</time>
 {{ event.from_state|default:"∅" }} → <strong>{{ event.to_state }}</strong>{% if event.reason_code %} <code>{{ event.reason_code }}</code>{% endif %}
 <span class="muted">({{ event|display:"actor_kind" }}{% if event.actor %}: {{ event.actor }}{% endif %}{% if event.recorded_at and event.recorded_at|date:"YmdHi" != event.occurred_at|date:"YmdHi" %}; {% blocktranslate with when=event.recorded_at|date:"Y-m-d H:i" %}recorded {{ when }}{% endblocktranslate %}{% endif %})</span>{% if event.note %} — {{ event.note }}{% endif %}</li>
{% endfor %}</ol>{% else %}<span class="muted">—</span>{% endif %}
"""  # noqa: E501


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("language", ["en", "de", "pt-br"])
def test_the_timeline_in_python_is_the_template_it_replaced(time_zone, language):
    at = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)
    actor = UserFactory(email="<b>staff</b>@example.com")
    events = [
        ReferralEvent(from_state="", to_state="registered", occurred_at=at, recorded_at=at + timedelta(seconds=20)),
        ReferralEvent(
            from_state="registered",
            to_state="under_review",
            reason_code="IP_BURST",
            occurred_at=at,
            recorded_at=at + timedelta(minutes=3),
            note="Shared IP & <script>",
        ),
        ReferralEvent(
            from_state="under_review",
            to_state="rejected",
            reason_code="SELF_REFERRAL",
            actor_kind="staff",
            actor=actor,
            occurred_at=at + timedelta(days=2),
            recorded_at=None,
        ),
    ]
    with timezone.override(time_zone), translation.override(language):
        for shown in (events, events[:1], []):
            expected = Template(TIMELINE_TEMPLATE).render(Context({"events": shown}))
            assert timeline_html(shown) == expected
