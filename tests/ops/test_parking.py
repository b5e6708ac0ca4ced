"""ops/tasks.py PortalTask: a task redelivered over and over is parked after 3 deliveries, retried by hand."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from ops.models import JobRun, OutboxMessage, TaskDelivery
from ops.services.deliveries import MAX_DELIVERIES
from referrals.tasks import credit_due_referrals, credit_referral_task
from support.models import AuditLog
from tests.factories import TaskDeliveryFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:ops_taskdelivery_changelist"


def deliver(task, *args, task_id="poison-1", redelivered=True):
    """Run `task` the way a worker runs a message (the broker marks a message it hands out again)."""
    task.push_request(id=task_id, delivery_info={"redelivered": redelivered}, called_directly=False, args=args)
    try:
        return task(*args)
    finally:
        task.pop_request()


def test_a_message_delivered_a_fourth_time_is_parked_instead_of_run():
    with mock.patch("referrals.tasks.crediting.credit_referral", return_value="credited") as credit:
        deliver(credit_referral_task, 42, redelivered=False)  # 1st delivery: counted nowhere, costs nothing
        assert not TaskDelivery.objects.exists()
        deliver(credit_referral_task, 42)  # 2nd: its worker died during the 1st
        deliver(credit_referral_task, 42)  # 3rd
        assert credit.call_count == 3
        assert deliver(credit_referral_task, 42) is None  # 4th: parked, acknowledged, not run
        assert credit.call_count == 3
        deliver(credit_referral_task, 42)  # a parked message delivered again stays parked
        assert credit.call_count == 3
    parked = TaskDelivery.objects.get(task_id="poison-1")
    assert parked.deliveries == MAX_DELIVERIES + 2
    assert parked.parked_at is not None and parked.retried_at is None
    assert (parked.task_name, parked.args) == ("referrals.tasks.credit_referral_task", [42])


def test_other_messages_are_not_affected():
    with mock.patch("referrals.tasks.crediting.credit_referral", return_value="credited") as credit:
        for _ in range(MAX_DELIVERIES + 1):
            deliver(credit_referral_task, 42, task_id="poison")
        deliver(credit_referral_task, 43, task_id="healthy")
    assert credit.call_args_list[-1].kwargs == {"referral_id": 43}
    assert TaskDelivery.objects.get(task_id="healthy").parked_at is None


def test_a_periodic_job_records_its_duration_and_rows():
    with mock.patch("referrals.tasks.sweep.credit_due_referrals", return_value={"credited": 7, "capped": 2}):
        deliver(credit_due_referrals, redelivered=False)
        deliver(credit_due_referrals, task_id="second", redelivered=False)
    run = JobRun.objects.get(name="referrals.tasks.credit_due_referrals")
    assert (run.runs, run.last_count, run.rows) == (2, 9, 18)
    assert run.last_duration_seconds >= 0


def test_staff_retry_a_parked_task_once_as_a_new_message_with_an_audit_row(
    staff_client, django_capture_on_commit_callbacks
):
    parked = TaskDeliveryFactory(deliveries=4, parked_at="2026-12-05T06:00:00Z", args=[42])
    with mock.patch("ops.services.outbox.publish_task") as publish, django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse(CHANGELIST),
            {"action": "retry_parked_tasks", "_selected_action": [parked.pk], "confirm": "yes", "reason": "bug fixed"},
        )
    assert response.status_code == 302
    publish.assert_called_once_with("referrals.tasks.credit_referral_task", [42])
    parked.refresh_from_db()
    assert parked.retried_at is not None
    audit = AuditLog.objects.get(action="task.retry_parked")
    assert (audit.actor, audit.reason, audit.target_id) == (staff_client.staff, "bug fixed", str(parked.pk))
    # Once per parking: a second retry is refused, nothing sent.
    staff_client.post(
        reverse(CHANGELIST),
        {"action": "retry_parked_tasks", "_selected_action": [parked.pk], "confirm": "yes", "reason": "again pls"},
    )
    assert OutboxMessage.objects.count() == 1
    assert AuditLog.objects.filter(action="task.retry_parked").count() == 1


def test_the_retry_needs_its_own_permission(client):
    parked = TaskDeliveryFactory(deliveries=4, parked_at="2026-12-05T06:00:00Z")
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_taskdelivery"))
    client.force_login(viewer)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200 and "retry_parked_tasks" not in page.content.decode()
    client.post(
        reverse(CHANGELIST),
        {"action": "retry_parked_tasks", "_selected_action": [parked.pk], "confirm": "yes", "reason": "let me"},
    )
    parked.refresh_from_db()
    assert parked.retried_at is None and not OutboxMessage.objects.exists()
    viewer.user_permissions.add(Permission.objects.get(codename="retry_parked_task"))
    viewer = type(viewer).objects.get(pk=viewer.pk)  # a fresh permission cache
    client.force_login(viewer)
    assert "retry_parked_tasks" in client.get(reverse(CHANGELIST)).content.decode()
