"""The review decision on a referral's own page: approve, or reject with a required reason, through the
audited staff actions (permission declared by the action, reason, audit row in the same transaction)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from support.models import AuditLog
from tests.support.builders import referral_with_timeline

pytestmark = pytest.mark.django_db


def review_page(referral) -> str:
    return reverse("admin:referrals_referralreview_change", args=[referral.pk])


def decide(referral, action: str) -> str:
    return reverse("admin:referrals_referralreview_decide", args=[referral.pk, action])


def test_the_review_page_offers_approve_and_reject_forms(role_client):
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    html = client.get(review_page(referral)).content.decode()
    assert "Decide this review" in html
    assert f'action="{decide(referral, "approve_reviews")}"' in html
    assert f'action="{decide(referral, "reject_reviews")}"' in html
    assert 'id="reject_reason_code"' in html and 'id="approve_reason"' in html


def test_approve_from_the_page_is_audited_and_returns_to_the_queue(role_client):
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    response = client.post(decide(referral, "approve_reviews"), {"confirm": "yes", "reason": "Flatmates, checked"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:referrals_referralreview_changelist")
    referral.refresh_from_db()
    assert referral.state == "registered"
    row = AuditLog.objects.get(action="referral.approve_review")
    assert (row.actor, row.target_id, row.reason) == (client.user, str(referral.pk), "Flatmates, checked")


def test_reject_needs_a_written_reason(role_client):
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    response = client.post(decide(referral, "reject_reviews"), {"confirm": "yes", "reason_code": "SELF_REFERRAL"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "This field is required" in html and 'role="alert"' in html
    assert "Please correct the error below." in html  # a summary, and the focus on the field to correct
    assert re.search(r'<textarea[^>]*name="reason"[^>]*autofocus', html)
    assert f'href="{review_page(referral)}"' in html  # Cancel goes back to the review page
    referral.refresh_from_db()
    assert referral.state == "under_review"
    assert not AuditLog.objects.exists()

    client.post(
        decide(referral, "reject_reviews"), {"confirm": "yes", "reason_code": "SELF_REFERRAL", "reason": "Same person"}
    )
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == ("rejected", "SELF_REFERRAL")
    row = AuditLog.objects.get(action="referral.reject_review")
    assert row.details["reason_code"] == "SELF_REFERRAL" and row.reason == "Same person"


def test_deciding_needs_the_review_permission(role_client):
    client = role_client("Support agent")  # may view referrals, may not decide reviews
    referral = referral_with_timeline(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    url = reverse("admin:referrals_referral_decide", args=[referral.pk, "approve_reviews"])
    assert client.post(url, {"confirm": "yes", "reason": "I should not"}).status_code == 403
    page = client.get(reverse("admin:referrals_referral_change", args=[referral.pk])).content.decode()
    assert "Decide this review" not in page
    referral.refresh_from_db()
    assert referral.state == "under_review"
    assert not AuditLog.objects.exists()


def test_only_the_decisions_run_from_the_page(role_client):
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    # rerun_eligibility is a list action the analyst may run, but not one offered per object here.
    assert client.post(decide(referral, "rerun_eligibility"), {"confirm": "yes"}).status_code == 403
    assert client.post(decide(referral, "delete_selected"), {"confirm": "yes"}).status_code == 403


def test_a_decided_referral_offers_no_decision(role_client):
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="registered")
    html = client.get(reverse("admin:referrals_referral_change", args=[referral.pk])).content.decode()
    assert "Decide this review" not in html
    response = client.post(decide(referral, "approve_reviews"), {"confirm": "yes", "reason": "Too late now"})
    assert response.status_code == 404  # not in the queue any more
