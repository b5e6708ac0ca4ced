"""What-if runs in the admin (docs/program-rules.md section 6): a program manager starts one (audited, queued for
Celery), follows its progress, reads its examples and downloads its CSV (audited); other roles cannot start one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referrals.models import WhatIfRun
from referrals.services.what_if import run_what_if
from support.models import AuditLog
from tests.referrals.test_replay import _world

pytestmark = pytest.mark.django_db


def test_program_manager_starts_a_what_if_in_the_admin_audited_and_queued(
    role_client, django_capture_on_commit_callbacks
):
    shared = _world()
    client = role_client("Program manager")
    data = {
        "date_from": "2026-11-01",
        "date_to": "2026-11-30",
        "device_account_limit": "3",
        "ip_signups_per_day_limit": "3",
        "referrer_burst_limit": "3",
        "note": "Device limit 3 instead of 4?",
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("admin:referrals_whatifrun_add"), data)
    assert response.status_code == 302
    run = WhatIfRun.objects.get()
    assert run.created_by == client.user and run.status == WhatIfRun.Status.PENDING
    assert len(callbacks) == 1  # the Celery task, after commit
    audit = AuditLog.objects.get(action="referral.what_if")
    assert (audit.actor, audit.reason, audit.details["device_account_limit"]) == (client.user, data["note"], 3)

    run_what_if(run_id=run.pk)  # what the worker does
    page = client.get(reverse("admin:referrals_whatifrun_change", args=[run.pk])).content.decode()
    assert "<progress" in page and "5 / 5" in page
    assert f"#{shared[0].pk}" in page
    download = client.get(reverse("admin:referrals_whatifrun_csv", args=[run.pk]))
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert b"referral_id,registered_at" in download.content
    assert AuditLog.objects.filter(action="referral.what_if_csv", actor=client.user).exists()


def test_todays_settings_or_a_reversed_range_are_refused_with_a_form_error(role_client):
    client = role_client("Program manager")
    base = {"date_from": "2026-11-01", "date_to": "2026-11-30", "ip_signups_per_day_limit": "3"}
    same = client.post(
        reverse("admin:referrals_whatifrun_add"), {**base, "device_account_limit": "4", "referrer_burst_limit": "3"}
    )
    assert same.status_code == 200 and "these are today" in same.content.decode()
    reversed_range = client.post(
        reverse("admin:referrals_whatifrun_add"),
        {**base, "date_from": "2026-12-01", "device_account_limit": "3", "referrer_burst_limit": "3"},
    )
    assert "The first day must not be after the last day." in reversed_range.content.decode()
    assert not WhatIfRun.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("Support agent", 403), ("Fraud analyst", 403)])
def test_only_a_program_manager_may_start_one(role_client, role, status):
    assert role_client(role).get(reverse("admin:referrals_whatifrun_add")).status_code == status
