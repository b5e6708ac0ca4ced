"""Support requests opened from a referral: eligibility, evidence, one open request, member pages, admin."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from support import services
from support.models import AuditLog, SupportRequest
from tests.factories import (
    ClickFactory,
    ReferralEventFactory,
    ReferralFactory,
    SupportRequestFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def delayed(referrer, hours: float, **extra):
    now = datetime.now(UTC)
    return ReferralFactory(
        whatsapp_3_days_ago=True,
        referrer=referrer,
        state="qualified",
        order_placed_at=now - timedelta(days=5),
        completed_at=now - timedelta(hours=hours),
        credit_due_at=now - timedelta(hours=hours),
        **extra,
    )


def open_url(referral) -> str:
    return reverse("support:open", args=[referral.pk])


# The confirmation step's "Send to support": the message written on step 1, confirmed.
SEND = {"message": "My friend ordered weeks ago.", "confirmed": "True"}


def test_not_credited_48h_after_completion_opens_a_request_with_evidence(client, member):
    click = ClickFactory(
        referral_code__user=member, channel="telegram", clicked_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    )
    referral = delayed(
        member, 49, code=click.referral_code, click=click, channel="telegram", signals={"shared_ip": False}
    )
    ReferralEventFactory(referral=referral, to_state="registered")

    response = client.post(open_url(referral), SEND)

    request = SupportRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("support:detail", args=[request.pk])
    assert (request.member, request.referral, request.kind, request.status) == (
        member,
        referral,
        "not_credited",
        "open",
    )
    assert request.message == "My friend ordered weeks ago."
    assert request.priority == 100
    evidence = request.evidence
    assert evidence["share_channel"] == "telegram"
    assert evidence["link_clicked_at"] == "2026-03-01T08:00:00+00:00"
    assert evidence["friend_signed_up_at"] == referral.registered_at.isoformat()
    assert evidence["first_order_completed_at"] == referral.completed_at.isoformat()
    assert evidence["first_order_placed_at"] == referral.order_placed_at.isoformat()
    assert evidence["state"] == "qualified"
    assert evidence["signals_summary"] == {"shared_ip": False}
    assert len(evidence["timeline"]) == 1


def test_before_48_hours_the_request_is_refused_with_a_message(client, member):
    referral = delayed(member, 47)
    response = client.post(open_url(referral), SEND, follow=True)
    assert SupportRequest.objects.count() == 0
    assert "You can ask support 48 hours after your friend&#x27;s order completed." in response.content.decode()


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("registered", ""),
        ("order_placed", ""),
        ("credited", ""),
        ("capped", "MONTHLY_LIMIT"),
        ("voided", "FIRST_ORDER_CANCELED"),
        ("under_review", "IP_BURST"),
    ],
)
def test_states_without_a_reason_to_ask_are_refused(client, member, state, reason):
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state=state, reason_code=reason)
    response = client.post(open_url(referral), SEND)
    assert response.status_code == 302
    assert SupportRequest.objects.count() == 0
    with pytest.raises(services.RequestNotAllowed):
        services.open_referral_request(member=member, referral_id=referral.pk)


def test_rejected_referral_opens_a_dispute(client, member):
    referral = ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SHARED_PAYMENT_METHOD"
    )
    client.post(open_url(referral), SEND)
    request = SupportRequest.objects.get()
    assert request.kind == "dispute"
    assert request.evidence["reason_code"] == "SHARED_PAYMENT_METHOD"


def test_another_members_referral_answers_404(client, member):
    other = ReferralFactory(whatsapp_3_days_ago=True, state="rejected", reason_code="SELF_REFERRAL")
    assert client.post(open_url(other), SEND).status_code == 404
    assert client.post(reverse("support:open", args=[999999]), SEND).status_code == 404
    assert SupportRequest.objects.count() == 0


def test_a_get_only_shows_the_form_and_csrf_is_required(member):
    from django.test import Client

    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    page = strict.get(open_url(referral))
    assert page.status_code == 200
    assert 'name="message"' in page.content.decode()
    assert strict.post(open_url(referral), SEND).status_code == 403
    assert SupportRequest.objects.count() == 0


def test_a_request_is_written_then_confirmed_then_sent(client, member):
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    written = client.post(open_url(referral), {"message": "It was my sister's laptop, not mine."})
    html = written.content.decode()
    assert written.status_code == 200
    assert "Step 2 of 2: check and send" in html
    assert "It was my sister&#x27;s laptop, not mine." in html
    assert SupportRequest.objects.count() == 0  # nothing is sent before the confirmation
    back = client.post(open_url(referral), {"message": "It was my sister's laptop.", "edit": "1"})
    assert "Step 1 of 2: write" in back.content.decode() and SupportRequest.objects.count() == 0
    sent = client.post(open_url(referral), {"message": "It was my sister's laptop.", "confirmed": "True"})
    request = SupportRequest.objects.get()
    assert sent["Location"] == reverse("support:detail", args=[request.pk])
    assert request.message == "It was my sister's laptop."
    assert "It was my sister&#x27;s laptop." in client.get(sent["Location"]).content.decode()


def test_a_too_long_message_is_a_form_error_with_a_summary(client, member):
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    response = client.post(open_url(referral), {"message": "x" * 2001, "confirmed": "True"})
    assert response.status_code == 400
    assert "data-error-summary" in response.content.decode()
    assert SupportRequest.objects.count() == 0


def test_double_click_opens_one_and_shows_it(client, member):
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    first = client.post(open_url(referral), SEND)
    second = client.post(open_url(referral), SEND, follow=True)
    request = SupportRequest.objects.get()
    assert first["Location"] == reverse("support:detail", args=[request.pk])
    assert f"Support request #{request.pk} for this referral is already open." in second.content.decode()


def test_a_closed_request_allows_a_new_one(member):
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    old = SupportRequestFactory(referral=referral, status="rejected")
    new, created = services.open_referral_request(member=member, referral_id=referral.pk)
    assert created and new.pk != old.pk


def test_card_links_to_the_open_request_instead_of_the_button(client, member):
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    request = SupportRequestFactory(referral=referral)
    html = client.get("/invite/").content.decode()
    assert f"Support request #{request.pk} is open.</a>" in html
    assert "I think this is wrong" not in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_click_opens_exactly_one_request():
    member = UserFactory()
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    n = 8
    barrier = threading.Barrier(n)
    results, errors = [], []

    def click():
        try:
            barrier.wait()
            results.append(services.open_referral_request(member=member, referral_id=referral.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert SupportRequest.objects.count() == 1
    assert sum(created for _, created in results) == 1
    assert {r.pk for r, _ in results} == {SupportRequest.objects.get().pk}


def test_unique_constraint_alone_resolves_a_missed_lookup(monkeypatch, member):
    """If the look-up before the insert misses (a race without the row lock), the constraint keeps one request."""
    referral = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL")
    first, _ = services.open_referral_request(member=member, referral_id=referral.pk)
    real_lookup = services._existing_open
    calls = []

    def miss_once(referral):
        calls.append(referral.pk)
        return None if len(calls) == 1 else real_lookup(referral)

    monkeypatch.setattr(services, "_existing_open", miss_once)
    again, created = services.open_referral_request(member=member, referral_id=referral.pk)
    assert (again.pk, created) == (first.pk, False)
    assert len(calls) == 2
    assert SupportRequest.objects.count() == 1


# --- Member pages ---------------------------------------------------------------------
def test_member_sees_own_requests_and_status(client, member):
    mine = SupportRequestFactory(
        referral=ReferralFactory(
            whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL"
        ),
        status="in_progress",
    )
    theirs = SupportRequestFactory()
    html = client.get(reverse("support:list")).content.decode()
    assert f"#{mine.pk}</a>" in html and "In progress" in html
    assert f"#{theirs.pk}</a>" not in html


def test_detail_shows_status_reply_and_evidence_without_friend_identity(client, member):
    friend = UserFactory(first_name="Johnathan", last_name="Smithers", email="jsmithers@example.org")
    referral = ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, friend=friend, state="rejected", reason_code="DEVICE_LIMIT"
    )
    request, _ = services.open_referral_request(member=member, referral_id=referral.pk)
    request.status, request.staff_reply = "resolved", "We credited it by hand."
    request.save()
    html = client.get(reverse("support:detail", args=[request.pk])).content.decode()
    assert "Resolved" in html and "We credited it by hand." in html
    assert "Too many accounts on this device" in html
    assert "Jo**** S." in html
    assert "Johnathan" not in html and "jsmithers" not in html


def test_another_members_request_answers_404(client, member):
    theirs = SupportRequestFactory()
    assert client.get(reverse("support:detail", args=[theirs.pk])).status_code == 404


def test_support_pages_need_login(client):
    assert client.get(reverse("support:list")).status_code == 302


@pytest.mark.parametrize("status", ["flagged", "suspended"])
def test_flagged_or_suspended_member_reads_their_requests_but_opens_none_from_a_referral(client, member, status):
    """docs/program-rules.md sections 6 and 10: no program action, but the member reads their requests and the
    answers, and never the reason of the flag."""
    referral = delayed(member, 49)
    mine = SupportRequestFactory(
        referral=ReferralFactory(whatsapp_3_days_ago=True, referrer=member), staff_reply="We looked at it."
    )
    member.status, member.status_reason = status, "DEVICE_RING"
    member.save(update_fields=["status", "status_reason"])
    listing = client.get(reverse("support:list"))
    detail = client.get(reverse("support:detail", args=[mine.pk]))
    assert listing.status_code == detail.status_code == 200
    assert reverse("support:appeal") in listing.content.decode()
    assert "We looked at it." in detail.content.decode()
    refused = client.post(open_url(referral), SEND)
    assert refused.status_code == 403
    assert "For security reasons, your request cannot be processed." in refused.content.decode()
    for response in (listing, detail, refused):
        assert "DEVICE_RING" not in response.content.decode()
    assert SupportRequest.objects.count() == 1  # only the one made above


@pytest.mark.parametrize("status", ["flagged", "suspended"])
def test_flagged_or_suspended_member_opens_an_appeal_and_reads_the_answer(client, member, status):
    member.status, member.status_reason = status, "DEVICE_RING"
    member.save(update_fields=["status", "status_reason"])
    url = reverse("support:appeal")
    assert client.get(url).status_code == 200
    empty = client.post(url, {"message": "", "confirmed": "True"})
    assert empty.status_code == 400 and SupportRequest.objects.count() == 0  # an appeal needs a message
    check = client.post(url, {"message": "I share this laptop with my flatmate."})
    assert "Step 2 of 2: check and send" in check.content.decode() and SupportRequest.objects.count() == 0
    sent = client.post(url, {"message": "I share this laptop with my flatmate.", "confirmed": "True"})
    appeal = SupportRequest.objects.get()
    assert (appeal.member, appeal.kind, appeal.referral, appeal.status) == (member, "appeal", None, "open")
    assert appeal.message == "I share this laptop with my flatmate."
    assert appeal.evidence["account_status"] == status
    assert sent["Location"] == reverse("support:detail", args=[appeal.pk])
    again = client.post(url, {"message": "Hello?", "confirmed": "True"}, follow=True)
    assert SupportRequest.objects.count() == 1
    assert f"Your appeal #{appeal.pk} is already open." in again.content.decode()
    appeal.status, appeal.staff_reply = "resolved", "We cleared the flag."
    appeal.save()
    html = client.get(sent["Location"]).content.decode()
    assert "Account appeal" in html and "We cleared the flag." in html and "DEVICE_RING" not in html


def test_a_member_in_good_standing_has_nothing_to_appeal(client, member):
    response = client.post(reverse("support:appeal"), {"message": "Hi", "confirmed": "True"})
    assert response.status_code == 302 and response["Location"] == reverse("support:list")
    assert SupportRequest.objects.count() == 0


# --- Admin -------------------------------------------------------------------------------
def test_admin_list_filters_and_search(staff_client):
    client = staff_client
    member = UserFactory(email="findme@example.com")
    request = SupportRequestFactory(
        referral=ReferralFactory(
            whatsapp_3_days_ago=True, referrer=member, state="rejected", reason_code="SELF_REFERRAL"
        )
    )
    SupportRequestFactory()
    url = reverse("admin:support_supportrequest_changelist")
    html = client.get(url, {"q": "findme@example.com"}).content.decode()
    assert "1 support request" in html and f">{request.pk}<" in html
    assert client.get(url, {"status__exact": "open", "kind__exact": "dispute"}).status_code == 200


def test_admin_change_shows_evidence_read_only_and_records_the_reply(staff_client):
    client, staff = staff_client, staff_client.staff
    referral = ReferralFactory(whatsapp_3_days_ago=True, state="rejected", reason_code="SELF_REFERRAL")
    request, _ = services.open_referral_request(member=referral.referrer, referral_id=referral.pk)
    url = reverse("admin:support_supportrequest_change", args=[request.pk])
    html = client.get(url).content.decode()
    assert "&quot;reason_code&quot;: &quot;SELF_REFERRAL&quot;" in html
    assert 'name="evidence"' not in html
    response = client.post(url, {"status": "resolved", "staff_reply": "Checked: it was your own device."})
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.staff_reply, request.handled_by) == (
        "resolved",
        "Checked: it was your own device.",
        staff,
    )
    assert request.resolved_at is not None
    assert request.evidence["reason_code"] == "SELF_REFERRAL"
    assert AuditLog.objects.filter(action="support_request.update", target_id=str(request.pk), actor=staff).exists()


@pytest.mark.parametrize(("level", "priority"), [("diamond", 0), ("silver", 100)])
def test_diamond_members_requests_go_to_the_front_of_the_queue(member, level, priority):
    from accounts.models import User

    User.objects.filter(pk=member.pk).update(level=level)
    member.refresh_from_db()
    referral = delayed(member, 49)
    request, created = services.open_referral_request(member=member, referral_id=referral.pk)
    assert created
    assert request.priority == priority
    assert list(SupportRequest.objects.order_by("priority", "created_at")).index(request) == 0
