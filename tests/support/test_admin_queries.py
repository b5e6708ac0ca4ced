"""Admin lists and the member page stay constant in queries as rows grow (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from support.audit import record_staff_action
from tests.factories import AccountDeviceFactory, PaymentCardFactory, UserFactory
from tests.support.builders import order_for, referral_with_timeline, reward_coupon

pytestmark = pytest.mark.django_db


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _grow(n: int, actor) -> None:
    for _ in range(n):
        referral = referral_with_timeline(state="credited")
        reward_coupon(referral)
        record_staff_action(actor=actor, action="member.flag", target=referral.friend, reason="x")


@pytest.mark.parametrize(
    "url_name",
    ["admin:referrals_referral_changelist", "admin:accounts_user_changelist", "admin:support_auditlog_changelist"],
)
def test_changelists_do_not_grow_with_rows(role_client, django_assert_max_num_queries, url_name):
    client = role_client("Fraud analyst")
    url = reverse(url_name)
    _grow(3, client.user)
    few = _count(client, url)
    _grow(60, client.user)
    with django_assert_max_num_queries(few):
        client.get(url)
    with django_assert_max_num_queries(20):
        client.get(url)


def test_the_review_queue_does_not_grow_with_rows(role_client, django_assert_max_num_queries):
    client = role_client("Fraud analyst")
    url = reverse("admin:referrals_referralreview_changelist")
    for _ in range(3):
        referral_with_timeline(state="under_review", reason_code="IP_BURST")
    few = _count(client, url)
    for _ in range(40):
        referral_with_timeline(state="under_review", reason_code="IP_BURST")
    with django_assert_max_num_queries(few):
        client.get(url)


def test_the_member_page_does_not_grow_with_referrals_coupons_and_devices(role_client, django_assert_max_num_queries):
    client = role_client("Fraud analyst")
    member = UserFactory()

    def grow(n):
        for _ in range(n):
            referral = referral_with_timeline(state="credited", code=member.referral_code)
            reward_coupon(referral)
            link = AccountDeviceFactory(user=member)
            AccountDeviceFactory(device=link.device)
            card = PaymentCardFactory(user=member)
            PaymentCardFactory(fingerprint=card.fingerprint)

    from tests.factories import ReferralCodeFactory

    ReferralCodeFactory(user=member)
    member.refresh_from_db()
    grow(2)
    url = reverse("admin:accounts_user_change", args=[member.pk])
    few = _count(client, url)
    grow(15)
    with django_assert_max_num_queries(few):
        response = client.get(url)
    html = response.content.decode()
    assert "referrals made" in html.lower() and "coupon ledger" in html.lower()
    assert "Linked accounts" in html and "payment card" in html


def test_find_a_member_by_email_phone_code_or_order_id(role_client):
    from tests.factories import ReferralCodeFactory

    client = role_client("Support agent")
    code = ReferralCodeFactory()
    member = code.user
    order = order_for(member)
    UserFactory(email="someone.else@example.com")
    url = reverse("admin:accounts_user_changelist")
    for term in [member.email, member.phone, code.code.lower(), order.external_id]:
        response = client.get(url, {"q": term})
        users = list(response.context["cl"].result_list)
        assert users == [member], term
    assert list(client.get(url, {"q": "no-such-thing"}).context["cl"].result_list) == []
