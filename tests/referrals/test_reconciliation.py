"""The nightly reconciliation reads the ledgers (docs/program-rules.md section 4): whatever they do not explain
is reported, in the log and on the staff dashboard.

The ledgers are append-only (lib/appendonly.py, PostgreSQL triggers), so a discrepancy is made here the ways
that remain possible: a coupon written without its issuing row, a ledger row too many, or the coupon or balance
side altered behind the ledger's back."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from coupons.coins import move_coins
from coupons.models import CoinLedger, Coupon, LedgerEntry
from coupons.services import expire_overdue_coupons, issue_coupon
from referrals.models import ReconciliationReport
from referrals.services import credit_due_referrals
from referrals.services.reconciliation import run_reconciliation
from tests.factories import CouponFactory, OrderFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db


def qualified(*, completed_at):
    referral = ReferralFactory(state="qualified", completed_at=completed_at, credit_due_at=completed_at)
    referral.first_order = OrderFactory(buyer=referral.friend, completed_at=completed_at, state="completed")
    referral.save(update_fields=["first_order"])
    return referral


@pytest.fixture
def books():
    """A credited reward, a staff coupon, an expired coupon and a coin movement: ledgers that add up."""
    now = timezone.now()
    referral = qualified(completed_at=now - timedelta(hours=30))
    assert credit_due_referrals() == {"credited": 1}
    member = UserFactory()
    issue_coupon(member=member, source="staff", value=Decimal("3.00"), idempotency_key="k1", reason="goodwill")
    old = issue_coupon(
        member=member,
        source="staff",
        value=Decimal("2.00"),
        idempotency_key="k2",
        reason="goodwill",
        issued_at=now - timedelta(days=40),
    )
    assert expire_overdue_coupons() == 1
    move_coins(member=member, delta=25, kind=CoinLedger.Kind.MANUAL, reason="test", idempotency_key="coins-1")
    return {"referral": referral, "member": member, "reward": Coupon.objects.get(referral=referral), "expired": old}


def test_ledgers_that_add_up_report_nothing(books, caplog):
    with caplog.at_level(logging.INFO, logger="referrals.services.reconciliation"):
        report = run_reconciliation()
    assert (report.reward_gap_count, report.ledger_problem_count) == (0, 0)
    assert "the ledgers explain every coupon and balance" in caplog.text


def test_a_coupon_without_its_issuing_row_is_reported(books, caplog):
    reward = books["reward"]
    orphan = CouponFactory(owner=reward.owner)  # a coupon row only: no 'issued' ledger row explains it
    with caplog.at_level(logging.ERROR):
        report = run_reconciliation()
    checks = {(p["check"], p.get("coupon_id"), p["member_id"]) for p in report.ledger_problems}
    assert ("issuing_row", orphan.pk, reward.owner_id) in checks
    assert ("coupon_balance", None, reward.owner_id) in checks
    assert report.ledger_problem_count == 2
    assert "issuing_row" in caplog.text and "coupon_balance" in caplog.text


def test_a_second_issuing_row_is_reported(books):
    coupon = books["expired"]
    LedgerEntry.objects.create(
        member=coupon.owner, coupon=coupon, event="issued", amount=Decimal("0.00"), idempotency_key="dup"
    )
    problems = run_reconciliation().ledger_problems
    assert [p for p in problems if p["check"] == "issuing_row"] == [
        {"check": "issuing_row", "coupon_id": coupon.pk, "member_id": coupon.owner_id, "issued_rows": 2}
    ]


def test_a_ledger_amount_the_coupons_do_not_explain_is_reported_against_the_members_balance(books):
    member = books["member"]
    coupon = Coupon.objects.get(ledger__idempotency_key="k1")
    LedgerEntry.objects.create(  # a row too many: the ledger now says 30.00 where one 3.00 coupon is active
        member=member, coupon=coupon, event="manual", amount=Decimal("27.00"), idempotency_key="extra"
    )
    problems = run_reconciliation().ledger_problems
    assert problems == [
        {
            "check": "coupon_balance",
            "member_id": member.pk,
            "currency": "USD",
            "ledger_total": "30.00",
            "active_coupons": "3.00",
        }
    ]


def test_an_altered_coupon_value_is_reported_against_the_members_balance(books):
    member = books["member"]
    Coupon.objects.filter(ledger__idempotency_key="k1").update(value=Decimal("30.00"))  # the ledger says 3.00
    problems = run_reconciliation().ledger_problems
    assert problems == [
        {
            "check": "coupon_balance",
            "member_id": member.pk,
            "currency": "USD",
            "ledger_total": "3.00",
            "active_coupons": "30.00",
        }
    ]


def test_a_coin_balance_that_the_ledger_does_not_explain_is_reported(books):
    member = books["member"]
    User.objects.filter(pk=member.pk).update(coins=40)
    problems = run_reconciliation().ledger_problems
    assert problems == [{"check": "coin_balance", "member_id": member.pk, "balance": 40, "ledger_total": 25}]


def test_a_completed_first_order_without_reward_or_reason_is_reported_with_the_ledgers(books):
    stuck = qualified(completed_at=timezone.now() - timedelta(hours=25))
    Coupon.objects.filter(pk=books["expired"].pk).update(status="active")  # altered: the ledger says expired
    report = run_reconciliation()
    assert [gap["referral_id"] for gap in report.reward_gaps] == [stuck.pk]
    assert report.ledger_problem_count == 1 and report.ledger_problems[0]["check"] == "coupon_balance"


def test_the_staff_dashboard_shows_the_latest_report(books, staff_client):
    page = staff_client.get(reverse("staff_dashboard")).content.decode()
    assert "Not run yet" in page
    run_reconciliation()
    assert "0</p>" in staff_client.get(reverse("staff_dashboard")).content.decode()
    orphan = CouponFactory(owner=books["reward"].owner)  # no issuing row
    report = run_reconciliation()
    page = staff_client.get(reverse("staff_dashboard")).content.decode()
    assert "discrepancies found on" in page and 'staff-figure">2<' in page
    assert "Coupon without exactly one issuing row" in page
    assert "Coupon ledger total differs from active coupons" in page
    assert f"#{orphan.pk}" in page
    assert ReconciliationReport.objects.latest("ran_at") == report
