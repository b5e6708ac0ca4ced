"""Celery adapters of crediting: thin, acks_late, no long countdowns, enqueue failures harmless."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from coupons import tasks as coupon_tasks
from coupons.models import Coupon
from ops.models import OutboxMessage
from ops.tasks import relay_outbox
from referral_portal.celery import app
from referrals import tasks
from referrals.reasons import ReferralState
from tests.factories import CouponFactory, OrderFactory, ReferralFactory
from tests.referrals.helpers import event

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MY_TASKS = [
    tasks.credit_referral_task,
    tasks.credit_due_referrals,
    tasks.flag_delayed_referrals,
    tasks.reconcile_rewards,
    tasks.compact_referral_tallies,
    tasks.roll_up_clicks,
    tasks.prune_clicks,
    coupon_tasks.expire_overdue_coupons,
    coupon_tasks.send_expiry_reminders,
]


@pytest.mark.parametrize("task", MY_TASKS, ids=lambda t: t.name)
def test_tasks_ack_late_with_time_limits_below_the_visibility_timeout(task):
    assert task.acks_late is True
    assert 0 < task.soft_time_limit < task.time_limit < 3600


def test_periodic_jobs_are_scheduled_and_the_sweep_runs_every_minute():
    app.loader.import_default_modules()
    scheduled = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    for name in [
        "referrals.tasks.credit_due_referrals",
        "referrals.tasks.flag_delayed_referrals",
        "referrals.tasks.reconcile_rewards",
        "referrals.tasks.compact_referral_tallies",
        "referrals.tasks.roll_up_clicks",
        "referrals.tasks.prune_clicks",
        "coupons.tasks.expire_overdue_coupons",
        "coupons.tasks.send_expiry_reminders",
    ]:
        assert name in scheduled
        assert name in app.tasks
    sweep = scheduled["referrals.tasks.credit_due_referrals"]["schedule"]
    assert float(sweep) == 60.0
    assert "purge-raw-ips" in app.conf.beat_schedule
    assert len(scheduled) == len(app.conf.beat_schedule)  # one entry per job


def test_no_countdown_or_eta_over_a_minute_in_the_code():
    pattern = re.compile(r"(countdown|eta)\s*=\s*([0-9.]+|timedelta\([^)]*\))")
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for match in pattern.finditer(path.read_text()):
            value = match.group(2)
            assert not value.startswith("timedelta"), f"{path}: {match.group(0)}"
            assert float(value) <= 60, f"{path}: {match.group(0)}"


def test_credit_task_is_one_service_call():
    referral = ReferralFactory(state=ReferralState.QUALIFIED, completed_at=timezone.now(), credit_due_at=timezone.now())
    assert tasks.credit_referral_task(referral.pk) == ReferralState.CREDITED
    assert tasks.credit_referral_task(referral.pk) == ReferralState.CREDITED
    assert Coupon.objects.filter(referral=referral).count() == 1


def test_sweep_task_credits_due_referrals():
    due = ReferralFactory(state=ReferralState.QUALIFIED, completed_at=timezone.now(), credit_due_at=timezone.now())
    assert tasks.credit_due_referrals() == {"credited": 1}
    due.refresh_from_db()
    assert due.state == ReferralState.CREDITED


def test_an_unfinished_sweep_sends_its_continuation_through_the_outbox(django_capture_on_commit_callbacks):
    unfinished = {"credited": 500, "unfinished": 1}
    broker_down = mock.patch("ops.services.outbox.publish_task", side_effect=OperationalError("broker down"))
    with (
        mock.patch("referrals.tasks.sweep.credit_due_referrals", return_value=unfinished) as run,
        broker_down as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.credit_due_referrals(batch=50) == unfinished
    assert run.call_args.kwargs == {"batch": 50, "budget_seconds": tasks.SWEEP_BUDGET_SECONDS}
    publish.assert_called_once_with("referrals.tasks.credit_due_referrals", [50])
    # A hung or missing broker does not lose it: the row waits for the relay.
    message = OutboxMessage.objects.get(target="referrals.tasks.credit_due_referrals")
    assert (message.args, message.dispatched_at, message.attempts) == ([50], None, 0)
    with mock.patch("ops.services.outbox.publish_task") as publish:
        assert relay_outbox() == {"dispatched": 1}
    publish.assert_called_once_with("referrals.tasks.credit_due_referrals", [50])
    # A finished sweep sends nothing more.
    with mock.patch("referrals.tasks.sweep.credit_due_referrals", return_value={"credited": 3}):
        assert tasks.credit_due_referrals() == {"credited": 3}
    assert OutboxMessage.objects.filter(target="referrals.tasks.credit_due_referrals").count() == 1


def test_coupon_tasks_call_their_services():
    old = CouponFactory(issued_at=timezone.now() - timedelta(days=31))
    soon = CouponFactory(issued_at=timezone.now() - timedelta(days=28))
    assert coupon_tasks.expire_overdue_coupons() == 1
    assert coupon_tasks.send_expiry_reminders() == 1
    old.refresh_from_db()
    soon.refresh_from_db()
    assert old.status == "expired"
    assert soon.reminder_sent_at is not None


def test_a_failed_enqueue_after_commit_is_kept_in_the_outbox_and_harmless(django_capture_on_commit_callbacks):
    referral = ReferralFactory()
    order = OrderFactory(buyer=referral.friend)
    failing = mock.patch("ops.services.outbox.publish_task", side_effect=OperationalError("broker down"))
    with failing as publish, django_capture_on_commit_callbacks(execute=True):
        event(referral, order, "completed")
    publish.assert_called_once_with("referrals.tasks.credit_referral_task", [referral.pk])
    assert referral.state == ReferralState.QUALIFIED
    # The message waits in the outbox (an outage counts no attempt) for the relay once the broker is back.
    message = OutboxMessage.objects.get(target="referrals.tasks.credit_referral_task")
    assert (message.args, message.dispatched_at, message.attempts) == ([referral.pk], None, 0)
    with mock.patch("ops.services.outbox.publish_task") as publish:
        assert relay_outbox() == {"dispatched": 1}
    publish.assert_called_once_with("referrals.tasks.credit_referral_task", [referral.pk])
    # And the sweep credits it whatever happens to the message.
    assert tasks.credit_due_referrals() == {"credited": 1}


def test_a_worker_keeps_its_database_connection_across_tasks_and_logs_no_line_per_successful_task(monkeypatch):
    from types import SimpleNamespace

    import django.db

    from referral_portal import celery as celery_module

    # Celery's Django fixup closes connections around every task unless told to reuse them.
    assert app.conf.db_reuse_max >= 100
    assert logging.getLogger("celery.app.trace").getEffectiveLevel() >= logging.WARNING
    # Instead, what Django does around a request: retire a connection only when it erred or is too old.
    calls = []
    monkeypatch.setattr(django.db, "close_old_connections", lambda: calls.append(1))
    celery_module._retire_unusable_connections(task=SimpleNamespace(request=SimpleNamespace(is_eager=False)))
    celery_module._retire_unusable_connections(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert calls == [1]  # an eager call (tests) runs inside its caller's transaction: left alone
