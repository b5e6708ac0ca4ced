"""Every staff action goes through an intermediate form asking why, calls a service and writes an audit row."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, Notification
from referrals.models import ReferralEvent
from support.models import AuditLog
from tests.factories import ReferralCodeFactory, UserFactory
from tests.support.builders import referral_with_timeline, reward_coupon, service

pytestmark = pytest.mark.django_db

USERS = "admin:accounts_user_changelist"
REFERRALS = "admin:referrals_referral_changelist"
REVIEWS = "admin:referrals_referralreview_changelist"


def run(client, url_name, action, pks, **form):
    data = {"action": action, "_selected_action": pks}
    if form:
        data |= {"confirm": "yes", **form}
    return client.post(reverse(url_name), data)


def only_audit(action):
    rows = list(AuditLog.objects.filter(action=action))
    assert len(rows) == 1, [r.action for r in AuditLog.objects.all()]
    return rows[0]


def test_the_first_post_shows_the_reason_form_and_changes_nothing(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory()
    response = run(client, USERS, "flag_for_review", [member.pk])
    assert response.status_code == 200
    html = response.content.decode()
    assert "Reason code" in html and 'name="reason"' in html and member.email in html
    member.refresh_from_db()
    assert member.status == AccountStatus.ACTIVE
    assert not AuditLog.objects.exists()


def test_a_missing_reason_is_a_form_error_not_a_change(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory()
    response = run(client, USERS, "flag_for_review", [member.pk], reason_code="STAFF_REVIEW", reason="  ")
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    member.refresh_from_db()
    assert member.status == AccountStatus.ACTIVE
    assert not AuditLog.objects.exists()


def test_flag_and_clear_write_audit_rows_with_who_and_why(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory()
    response = run(
        client, USERS, "flag_for_review", [member.pk], reason_code="DEVICE_RING", reason="Ring of 5 on one phone"
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.status, member.status_reason) == (AccountStatus.FLAGGED, "DEVICE_RING")
    row = only_audit("member.flag")
    assert (row.actor, row.target_id, row.target_type) == (client.user, str(member.pk), "accounts.user")
    assert row.reason == "Ring of 5 on one phone"
    assert row.details["reason_code"] == "DEVICE_RING"

    run(client, USERS, "clear_flags", [member.pk], reason="Checked: family device")
    member.refresh_from_db()
    assert member.status == AccountStatus.ACTIVE
    assert only_audit("member.clear_flag").reason == "Checked: family device"


def test_suspend_and_reactivate_are_audited(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory()
    run(client, USERS, "suspend", [member.pk], reason_code="TERMS_VIOLATION", reason="Sold coupons")
    member.refresh_from_db()
    assert member.status == AccountStatus.SUSPENDED
    run(client, USERS, "reactivate_accounts", [member.pk], reason="Appeal accepted")
    member.refresh_from_db()
    assert member.status == AccountStatus.ACTIVE
    assert {r.action for r in AuditLog.objects.all()} == {"member.suspend", "member.reactivate"}


def test_clearing_an_unflagged_member_is_refused_with_a_message_and_no_audit(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory()
    response = run(client, USERS, "clear_flags", [member.pk], reason="nothing to clear")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("not flagged" in m for m in messages)
    assert not AuditLog.objects.exists()


def test_disabling_and_enabling_a_code_is_audited(role_client):
    client = role_client("Fraud analyst")
    code = ReferralCodeFactory()
    run(client, "admin:referrals_referralcode_changelist", "disable_codes", [code.pk], reason="Spam on forums")
    code.refresh_from_db()
    assert code.is_active is False
    assert only_audit("referral_code.disable").reason == "Spam on forums"
    run(client, "admin:referrals_referralcode_changelist", "enable_codes", [code.pk], reason="Cleaned up")
    code.refresh_from_db()
    assert code.is_active is True
    assert only_audit("referral_code.enable").target_repr == code.code


def test_a_support_agent_cannot_disable_codes(role_client):
    client = role_client("Support agent")
    code = ReferralCodeFactory()
    run(client, "admin:referrals_referralcode_changelist", "disable_codes", [code.pk], reason="Spam on forums")
    code.refresh_from_db()
    assert code.is_active is True
    assert not AuditLog.objects.exists()


def test_rerun_eligibility_records_the_outcome_and_never_changes_the_state(role_client):
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(
        state="rejected", reason_code="SELF_REFERRAL", signals={"strong": ["SELF_REFERRAL"], "medium": [], "weak": []}
    )
    events_before = referral.events.count()
    response = run(client, REFERRALS, "rerun_eligibility", [referral.pk], reason="member disputes")
    assert response.status_code == 302
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == ("rejected", "SELF_REFERRAL")
    # The original decision is kept; the re-run sits beside it.
    assert referral.signals["strong"] == ["SELF_REFERRAL"]
    rerun = referral.signals["rerun"]
    assert rerun["by"] == client.user.email and rerun["outcome"] in {"allowed", "under_review", "rejected"}
    note = ReferralEvent.objects.filter(referral=referral).order_by("-id").first()
    assert referral.events.count() == events_before + 1
    assert note.from_state == note.to_state == "rejected"
    assert note.actor == client.user and "state unchanged" in note.note
    row = only_audit("referral.rerun_eligibility")
    assert row.details["outcome"] == rerun["outcome"]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any(f"Referral {referral.pk}: re-run says" in m for m in messages)


def test_rerun_finds_a_self_referral_from_the_stored_device(role_client):
    from tests.factories import AccountDeviceFactory

    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="registered")
    shared = AccountDeviceFactory(user=referral.referrer)
    AccountDeviceFactory(user=referral.friend, device=shared.device, first_event="signup")
    run(client, REFERRALS, "rerun_eligibility", [referral.pk], reason="")
    referral.refresh_from_db()
    assert referral.state == "registered"
    assert referral.signals["rerun"]["outcome"] == "rejected"
    assert "SELF_REFERRAL" in referral.signals["rerun"]["signals"]["strong"]
    assert referral.signals["rerun"]["differs"] is True


def test_resending_a_notice_sends_a_fresh_one_and_is_audited(role_client, django_capture_on_commit_callbacks):
    client = role_client("Support agent")
    member = UserFactory()
    notice = Notification.objects.create(
        user=member, kind="friend_joined", title="A friend joined", dedupe_key="friend-joined:1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        run(client, "admin:accounts_notification_changelist", "resend_notices", [notice.pk], reason="lost e-mail")
    copies = Notification.objects.filter(user=member).exclude(pk=notice.pk)
    assert copies.count() == 1 and copies.get().title == "A friend joined"
    assert [m.to for m in mail.outbox] == [[member.email]]
    row = only_audit("notice.resend")
    assert row.details["new_notification_id"] == copies.get().pk


def test_a_fraud_analyst_cannot_resend_notices(role_client):
    client = role_client("Fraud analyst")
    notice = Notification.objects.create(user=UserFactory(), kind="x", title="t")
    response = run(client, "admin:accounts_notification_changelist", "resend_notices", [notice.pk], reason="x")
    assert response.status_code == 403  # no view permission on notices at all
    assert Notification.objects.count() == 1


# --- crediting-branch services (skipped until they are merged) -------------------------------------


def test_approving_a_review_goes_through_the_service_and_is_audited(role_client):
    service("referrals.services.review", "approve_review")
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="under_review", reason_code="DISPOSABLE_EMAIL")
    run(client, REVIEWS, "approve_reviews", [referral.pk], reason="Known corporate domain")
    referral.refresh_from_db()
    assert referral.state != "under_review"
    row = only_audit("referral.approve_review")
    assert (row.actor, row.reason) == (client.user, "Known corporate domain")


def test_rejecting_a_review_keeps_the_reason_code_and_is_audited(role_client):
    service("referrals.services.review", "reject_review")
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    run(client, REVIEWS, "reject_reviews", [referral.pk], reason_code="SELF_REFERRAL", reason="Same person")
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == ("rejected", "SELF_REFERRAL")
    assert only_audit("referral.reject_review").details["reason_code"] == "SELF_REFERRAL"


def test_manual_credit_past_the_limit_writes_a_ledger_row_with_the_staff_member(role_client):
    service("referrals.services.crediting", "credit_manually")
    from coupons.models import LedgerEntry

    client = role_client("Program manager")
    referral = referral_with_timeline(state="capped", reason_code="MONTHLY_LIMIT", completed_at=timezone.now())
    run(client, REFERRALS, "credit_manually", [referral.pk], reason="Goodwill after outage")
    referral.refresh_from_db()
    assert referral.state == "credited"
    entry = LedgerEntry.objects.filter(referral=referral, actor=client.user).get()
    assert "Goodwill after outage" in entry.reason
    assert only_audit("referral.credit_manually").reason == "Goodwill after outage"


def test_voiding_a_reward_coupon_from_the_referral_list_is_audited(role_client):
    service("coupons.services", "void_coupon")
    client = role_client("Fraud analyst")
    referral = referral_with_timeline(state="credited")
    coupon = reward_coupon(referral)
    run(client, REFERRALS, "void_reward_coupon", [referral.pk], reason="Self-referral found later")
    coupon.refresh_from_db()
    assert coupon.status == "voided"
    row = only_audit("coupon.void")
    # Acting from the referral list: the referral is the target, the coupon is in the details.
    assert (row.target_type, row.target_id) == ("referrals.referral", str(referral.pk))
    assert row.details["coupon_id"] == coupon.pk


def test_voiding_a_coupon_from_the_member_page_is_audited(role_client):
    service("coupons.services", "void_coupon")
    client = role_client("Program manager")
    referral = referral_with_timeline(state="credited")
    coupon = reward_coupon(referral)
    url = reverse("admin:accounts_user_void_coupon", args=[coupon.owner_id, coupon.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "Duplicate reward"})
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert coupon.status == "voided"
    assert only_audit("coupon.void").reason == "Duplicate reward"


# --- the void view's own rules (no crediting service needed) ------------------------------------------


def test_the_void_view_needs_the_permission_and_the_members_own_coupon(role_client):
    referral = referral_with_timeline(state="credited")
    coupon = reward_coupon(referral, value=Decimal("5.00"))
    agent = role_client("Support agent")
    url = reverse("admin:accounts_user_void_coupon", args=[coupon.owner_id, coupon.pk])
    assert agent.get(url).status_code == 403
    analyst = role_client("Fraud analyst")
    other_member = reverse("admin:accounts_user_void_coupon", args=[referral.friend_id, coupon.pk])
    assert analyst.get(other_member).status_code == 404
    response = analyst.post(url, {"reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    coupon.refresh_from_db()
    assert coupon.status == "active"
