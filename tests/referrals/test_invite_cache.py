"""The Invite Friends content cache: a hit skips the page's queries, any change the page shows is fresh at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coupons.models import CouponStatus
from referrals.models import MonthlyRewardCounter, Referral
from referrals.services.timeline import transition
from support.models import SupportRequest
from tests.factories import (
    CouponFactory,
    ReferralFactory,
    SupportRequestFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.member(phone_verified=True)]

URL = "/invite/"
# A hit: session, user, referral code, the version query. Nothing else.
HIT_QUERIES = 4


@pytest.fixture(autouse=True)
def _invite_page_cache_on(settings):
    settings.INVITE_PAGE_CACHE_SECONDS = 60


def get(client, **params) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def queries(client, **params) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        html = get(client, **params)
    return len(ctx.captured_queries), html


def referral(member, **fields) -> Referral:
    return ReferralFactory(whatsapp_3_days_ago=True, referrer=member, **fields)


def test_a_hit_runs_only_the_session_user_code_and_version_queries(client, member):
    for n in range(25):
        referral(member, friend=UserFactory(first_name=f"Friend{n}", last_name="X"))
    first_count, first = queries(client)
    hit_count, hit = queries(client)
    assert first_count > HIT_QUERIES + 3  # the miss reads counts, page, cards, funnel, meter, earnings
    assert hit_count == HIT_QUERIES
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub("", hit) == strip.sub("", first)
    assert "Fr****" in hit


def test_the_cache_is_used_only_when_turned_on(client, member, settings):
    settings.INVITE_PAGE_CACHE_SECONDS = 0
    referral(member)
    get(client)  # the first visit also creates the referral code
    first_count, _ = queries(client)
    second_count, _ = queries(client)
    assert second_count == first_count > HIT_QUERIES


def test_a_new_referral_shows_at_once(client, member):
    referral(member, friend=UserFactory(first_name="Anna", last_name="Berg"))
    assert "Bob*" not in get(client)
    referral(member, friend=UserFactory(first_name="Bobby", last_name="Stone"))
    html = get(client)
    assert "Bo*** S." in html
    assert '<span class="tab-count">2</span>' in html


def test_a_transition_shows_at_once(client, member):
    r = referral(member, state="registered")
    assert "badge state-registered" in get(client)
    assert transition(referral=r, to_state="qualified", from_states=["registered"], completed_at=timezone.now())
    assert transition(referral=r, to_state="credited", from_states=["qualified"], credited_at=timezone.now())
    html = get(client)
    assert "badge state-credited" in html
    assert "badge state-registered" not in html


def test_a_voided_reward_coupon_leaves_the_earnings_at_once(client, member):
    coupon = CouponFactory(referral=referral(member, state="credited"))
    assert "$5.00" in re.search(r'stat-accent"><span class="stat-value">([^<]*)<', get(client)).group(1)
    coupon.status = CouponStatus.VOIDED
    coupon.voided_at = timezone.now()
    coupon.save(update_fields=["status", "voided_at"])
    earned = re.search(r'stat-accent"><span class="stat-value">([^<]*)<', get(client)).group(1)
    assert "$5.00" not in earned and "0.00" in earned


def test_a_new_support_request_and_its_status_show_at_once(client, member):
    r = referral(member, state="rejected", reason_code="STAFF_REJECTED", decided_at=timezone.now())
    assert "Support request #" not in get(client)
    request = SupportRequestFactory(referral=r)
    assert f"Support request #{request.pk} is open.</a>" in get(client)
    request.status = SupportRequest.Status.IN_PROGRESS
    request.save()
    assert f"Support request #{request.pk} is in progress.</a>" in get(client)


def test_the_monthly_counter_shows_at_once(client, member):
    assert "0 of 10 coupons this month" in get(client)
    start = timezone.now().date().replace(day=1)
    counter = MonthlyRewardCounter.objects.create(referrer=member, month=start, count=3)
    assert "3 of 10 coupons this month" in get(client)
    MonthlyRewardCounter.objects.filter(pk=counter.pk).update(count=4)
    assert "4 of 10 coupons this month" in get(client)


def test_tab_and_page_each_have_their_own_content(client, member):
    for n in range(13):
        referral(member, state="credited" if n == 0 else "registered")
    get(client)
    assert get(client, tab="credited").count('class="card referral-card"') == 1
    assert get(client).count('class="card referral-card"') == 12
    assert get(client, page="2").count('class="card referral-card"') == 1
    assert "Page 2 of 2" in get(client, page="2")
    # Junk page numbers are read as the paginator reads them.
    assert "Page 1 of 2" in get(client, page="abc")
    assert "Page 2 of 2" in get(client, page="99999999999")


def test_a_language_change_renders_in_the_new_language(client, member):
    referral(member, registered_at=datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert "Signed up 10 Mar 2026" in get(client)
    member.language = "de"
    member.save(update_fields=["language"])
    assert "Registriert am 10. März 2026" in get(client)


def test_the_next_minute_renders_again(client, member):
    referral(member)
    with time_machine.travel(datetime(2026, 11, 24, 12, 0, 5, tzinfo=UTC), tick=False):
        get(client)
        assert queries(client)[0] == HIT_QUERIES
    with time_machine.travel(datetime(2026, 11, 24, 12, 1, 0, tzinfo=UTC), tick=False):
        assert queries(client)[0] > HIT_QUERIES


def test_another_member_never_gets_this_members_content(client, member):
    referral(member, friend=UserFactory(first_name="Secret", last_name="Friend"))
    mine = get(client)
    assert "Se**** F." in mine
    other = UserFactory(language="en", time_zone="UTC")
    other_client = Client()
    other_client.force_login(other)
    theirs = get(other_client)
    assert "Se**** F." not in theirs
    my_code = re.search(r'id="invite-code"[^>]*value="([^"]+)"', mine).group(1)
    assert my_code not in theirs


def test_posting_the_phone_form_of_a_cached_page_works():
    """A member without a verified phone finds the phone form in the content: its CSRF token is this request's."""
    member = UserFactory()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    strict.get(URL)  # fills the cache
    with CaptureQueriesContext(connection) as ctx:
        html = strict.get(URL).content.decode()
    assert len(ctx.captured_queries) == HIT_QUERIES + 1  # and the pending phone code, read for the key
    action = reverse("accounts:phone")
    form = re.search(rf'<form method="post" action="{action}" class="form" novalidate>(.*?)</form>', html, re.S).group(
        1
    )
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    assert "placeholder" not in token
    response = strict.post(action, {"csrfmiddlewaretoken": token, "phone": "+14155550188", "next": URL})
    assert response.status_code == 302
    assert response["Location"] == URL
    assert "We sent a code to" in strict.get(URL).content.decode()


def test_the_cached_content_holds_no_csrf_token(client, monkeypatch):
    client.force_login(UserFactory())  # no verified phone: the phone form is in the content
    stored = []
    real_set = cache.set

    def recording_set(key, value, *args, **kwargs):
        if key.startswith("invite:page:"):
            stored.append(value)
        return real_set(key, value, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)
    html = get(client)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert len(stored) == 1
    assert token not in stored[0]
    assert 'name="csrfmiddlewaretoken" value="rp-invite-csrf-placeholder"' in stored[0]


def test_a_broken_cache_only_means_rendering(client, member, monkeypatch):
    referral(member, friend=UserFactory(first_name="Carla", last_name="Diaz"))

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", broken)
    monkeypatch.setattr(cache, "set", broken)
    assert "Ca*** D." in get(client)
