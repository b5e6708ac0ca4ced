"""The referral admin: read-only everywhere, the review queue, signals as a readable table."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals.admin.signals import signals_sections
from tests.support.builders import referral_with_timeline
from tests.support.conftest import make_staff, role_client, staff_roles  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_review_queue_lists_only_referrals_under_review_oldest_first(role_client):  # noqa: F811
    client = role_client("Fraud analyst")
    now = timezone.now()
    newer = referral_with_timeline(
        state="under_review", reason_code="IP_BURST", review_requested_at=now - timedelta(hours=1)
    )
    older = referral_with_timeline(
        state="under_review", reason_code="DISPOSABLE_EMAIL", review_requested_at=now - timedelta(hours=30)
    )
    referral_with_timeline(state="registered")
    referral_with_timeline(state="rejected", reason_code="SELF_REFERRAL")
    response = client.get(reverse("admin:referrals_referralreview_changelist"))
    assert [r.pk for r in response.context["cl"].result_list] == [older.pk, newer.pk]
    assert "over 24 h" in response.content.decode()


def test_the_review_queue_shows_the_stored_signals(role_client):  # noqa: F811
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(
        state="under_review",
        reason_code="SHARED_IP_AND_AGENT",
        signals={
            "strong": [],
            "medium": ["SHARED_IP_AND_AGENT"],
            "weak": ["SHARED_IP"],
            "checks": {"same_device_as_referrer": False},
            "facts": {"ip_country": "US", "friend": {"country": "US", "device_hashes": ["abc123"]}},
        },
    )
    html = client.get(reverse("admin:referrals_referralreview_change", args=[referral.pk])).content.decode()
    assert "Same IP and browser as the referrer (SHARED_IP_AND_AGENT)" in html
    assert "same device as referrer" in html
    assert "friend.device hashes" in html and "abc123" in html
    assert "Joined via WhatsApp" in html  # the timeline inline


def test_signals_sections_read_like_a_table_and_keep_the_rerun_apart():
    sections = signals_sections(
        {
            "strong": ["SELF_REFERRAL"],
            "medium": [],
            "weak": [],
            "checks": {"same_card_as_referrer": True},
            "rerun": {"outcome": "allowed", "reason_code": "", "differs": True, "at": "t", "by": "s@example.com"},
            "demo": True,
        }
    )
    titles = [s["title"] for s in sections]
    assert titles == [
        "Automatic decision",
        "Checks against the referrer",
        "Other signals",
        "Last eligibility re-run (state unchanged)",
    ]
    assert sections[0]["rows"][0] == ("strong", "Friend is the referrer (SELF_REFERRAL)", "danger")
    assert sections[1]["rows"] == [("same card as referrer", "yes", "warning")]
    assert signals_sections({}) == []


def test_referrals_cannot_be_edited_added_or_deleted_even_by_a_superuser(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    referral = referral_with_timeline(state="qualified")
    change = reverse("admin:referrals_referral_change", args=[referral.pk])
    page = client.get(change).content.decode()
    assert 'name="state"' not in page and 'name="_save"' not in page
    response = client.post(change, {"state": "credited", "reason_code": ""})
    assert response.status_code == 403
    referral.refresh_from_db()
    assert referral.state == "qualified"
    assert client.get(reverse("admin:referrals_referral_add")).status_code == 403
    assert client.get(reverse("admin:referrals_referral_delete", args=[referral.pk])).status_code == 403


def test_the_referral_list_filters_by_state_and_searches_by_code(role_client):  # noqa: F811
    client = role_client("Support agent")
    credited = referral_with_timeline(state="credited")
    referral_with_timeline(state="registered")
    url = reverse("admin:referrals_referral_changelist")
    assert [r.pk for r in client.get(url, {"state__exact": "credited"}).context["cl"].result_list] == [credited.pk]
    found = client.get(url, {"q": credited.code.code}).context["cl"].result_list
    assert credited.pk in [r.pk for r in found]


FIRST_ORDER_BURST = {
    "outcome": "under_review",
    "reason_code": "REFERRER_BURST",
    "strong": [],
    "medium": ["REFERRER_BURST"],
    "weak": [],
    "checks": {"card_used_by_referrer": False, "referrer_burst": True},
    "facts": {"order": "ORD-9", "referrer_burst": {"other_qualified_friends": 3, "other_referral_ids": [4, 5, 6]}},
    "checked_at": "2026-05-10T12:00:00+00:00",
}


def test_the_first_order_decision_has_its_own_section_apart_from_the_sign_up_one():
    sections = signals_sections({"strong": [], "medium": [], "weak": [], "first_order": FIRST_ORDER_BURST})
    assert [s["title"] for s in sections] == ["Automatic decision", "Decision at the first order"]
    rows = {label: (value, tone) for label, value, tone in sections[1]["rows"]}
    assert rows["outcome"] == ("under_review Burst of qualified friends (REFERRER_BURST)", "")
    assert rows["medium"] == ("Burst of qualified friends (REFERRER_BURST)", "warning")
    assert rows["referrer burst"] == ("yes", "warning")
    assert rows["referrer burst.other referral ids"] == ("4, 5, 6", "")
    assert rows["checked at"] == ("2026-05-10T12:00:00+00:00", "")


def test_the_review_queue_names_a_burst_found_at_the_first_order(role_client):  # noqa: F811
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(
        state="under_review",
        reason_code="REFERRER_BURST",
        review_requested_at=timezone.now(),
        signals={"strong": [], "medium": [], "weak": [], "first_order": FIRST_ORDER_BURST},
    )
    listing = client.get(reverse("admin:referrals_referralreview_changelist")).content.decode()
    assert "REFERRER_BURST" in listing
    html = client.get(reverse("admin:referrals_referralreview_change", args=[referral.pk])).content.decode()
    assert "Decision at the first order" in html
    assert "referrer burst.other qualified friends" in html
