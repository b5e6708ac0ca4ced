"""Decisions that can be explained and replayed (docs/program-rules.md section 6): every decision records its
rules version and inputs; staff replay one referral under today's rules (a diff, no state change); a program
manager runs a what-if over a date range in the background, with progress, examples and a CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from referrals.eligibility import (
    ALLOWED,
    REJECTED,
    UNDER_REVIEW,
    FirstOrderFacts,
    RuleSettings,
    decide,
    decide_first_order,
)
from referrals.models import Referral, ReferralEvent, WhatIfRun
from referrals.program import RULES_VERSION
from referrals.reasons import ReasonCode, ReferralState
from referrals.replay import UNRECORDED_VERSION, replay_referral, replay_signals
from referrals.services.what_if import run_what_if
from support.models import AuditLog
from tests.factories import ReferralFactory
from tests.referrals.test_eligibility import facts

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 10, 12, tzinfo=UTC)


def _signals(**changes) -> dict:
    return decide(facts(**changes)).signals


def _burst_signals(others: int) -> dict:
    """A first order completing with `others` other qualified friends of the referrer within 24 hours."""
    nearby = tuple((100 + i, AT - timedelta(hours=1)) for i in range(others))
    decision = decide_first_order(FirstOrderFacts(order="ORD-1", completed_at=AT, referrer_qualified_nearby=nearby))
    return {**_signals(), "first_order": decision.signals}


# --- recorded -----------------------------------------------------------------------------------------


def test_every_decision_records_its_rules_version_settings_and_inputs():
    signup = decide(facts(device_program_accounts=2))
    assert signup.signals["rules"] == {
        "version": RULES_VERSION,
        "settings": {"device_account_limit": 4, "ip_signups_per_day_limit": 3, "referrer_burst_limit": 3},
    }
    assert signup.signals["facts"]["device_program_accounts"] == 2
    assert (signup.signals["outcome"], signup.signals["reason_code"]) == (ALLOWED, "")
    first_order = _burst_signals(1)["first_order"]
    assert first_order["rules"]["version"] == RULES_VERSION
    assert first_order["facts"]["referrer_burst"]["other_qualified_friends"] == 1


# --- replay under today's rules -------------------------------------------------------------------------


def test_replay_of_an_unchanged_decision_is_the_same():
    replay = replay_signals(_signals(ip_signups_last_day=4))
    assert replay.replayable and not replay.changed
    assert replay.replayed_outcome == UNDER_REVIEW


def test_replay_shows_a_decision_made_under_older_rules_would_change_today():
    # Recorded before 2026-12-05: REGION_MISMATCH was then a strong signal, and no version was kept.
    old = _signals(ip_country="GB")
    old = {key: value for key, value in old.items() if key not in ("rules", "outcome", "reason_code")}
    old["strong"], old["medium"] = [ReasonCode.REGION_MISMATCH], []
    replay = replay_signals(old)
    (stage,) = replay.stages
    assert (stage.recorded_outcome, stage.recorded_reason, stage.recorded_version) == (
        REJECTED,
        ReasonCode.REGION_MISMATCH,
        UNRECORDED_VERSION,
    )
    assert (stage.replayed_outcome, stage.replayed_reason) == (UNDER_REVIEW, ReasonCode.REGION_MISMATCH)
    assert replay.changed


def test_replay_of_a_first_order_burst_under_another_threshold():
    signals = _burst_signals(3)  # the 4th within 24 h: held
    assert replay_signals(signals).replayed_outcome == UNDER_REVIEW
    assert replay_signals(signals, RuleSettings(referrer_burst_limit=5)).replayed_outcome == ALLOWED


def test_staff_replay_on_the_admin_page_changes_nothing(admin_client):
    old = _signals(ip_country="GB")
    old = {**{k: v for k, v in old.items() if k not in ("rules", "outcome", "reason_code")}, "medium": []}
    old["strong"] = [ReasonCode.REGION_MISMATCH]
    referral = ReferralFactory(state=ReferralState.REJECTED, reason_code=ReasonCode.REGION_MISMATCH, signals=old)
    before = (referral.state, referral.signals, ReferralEvent.objects.count(), AuditLog.objects.count())
    page = admin_client.get(reverse("admin:referrals_referral_change", args=[referral.pk])).content.decode()
    assert "Replay under today&#x27;s rules (no state change)" in page
    assert "would be under_review instead of rejected" in page
    referral.refresh_from_db()
    assert (referral.state, referral.signals, ReferralEvent.objects.count(), AuditLog.objects.count()) == before


def test_a_referral_without_recorded_inputs_says_so(admin_client):
    referral = ReferralFactory(signals={})
    assert not replay_referral(referral).replayable
    page = admin_client.get(reverse("admin:referrals_referral_change", args=[referral.pk])).content.decode()
    assert "No recorded inputs to replay" in page


# --- what-if --------------------------------------------------------------------------------------------


def _world():
    """Sign-ups in November 2026: three on a device with 3 others (allowed at 4, refused at 3), one clean,
    one without recorded inputs, one outside the range."""
    on_shared_device = [
        ReferralFactory(registered_at=AT + timedelta(hours=i), signals=_signals(device_program_accounts=3))
        for i in range(3)
    ]
    ReferralFactory(registered_at=AT, signals=_signals())
    ReferralFactory(registered_at=AT, signals={})
    ReferralFactory(registered_at=datetime(2026, 12, 2, tzinfo=UTC), signals=_signals(device_program_accounts=3))
    return on_shared_device


def _run(**settings) -> WhatIfRun:
    values = {"device_account_limit": 4, "ip_signups_per_day_limit": 3, "referrer_burst_limit": 3, **settings}
    return WhatIfRun.objects.create(date_from=date(2026, 11, 1), date_to=date(2026, 11, 30), **values)


def test_what_if_counts_the_referrals_that_would_change_with_examples_and_a_csv():
    shared = _world()
    run = _run(device_account_limit=3)
    assert run_what_if(run_id=run.pk) == WhatIfRun.Status.DONE
    run.refresh_from_db()
    assert (run.total, run.processed, run.changed, run.not_replayable) == (5, 5, 3, 1)
    assert [row["referral_id"] for row in run.examples] == [r.pk for r in shared]
    assert {(row["today_outcome"], row["what_if_outcome"], row["what_if_reason"]) for row in run.examples} == {
        (ALLOWED, REJECTED, ReasonCode.DEVICE_LIMIT)
    }
    rows = list(csv.DictReader(io.StringIO(run.csv_text)))
    assert len(rows) == 4
    assert sum(row["changes"] == "yes" for row in rows) == 3
    # Evidence only: nothing changed.
    assert set(Referral.objects.values_list("state", flat=True)) == {ReferralState.REGISTERED}


def test_what_if_with_a_looser_threshold_changes_nothing_here_and_a_finished_run_is_kept():
    _world()
    run = _run(device_account_limit=5)
    run_what_if(run_id=run.pk)
    run.refresh_from_db()
    assert run.changed == 0
    WhatIfRun.objects.filter(pk=run.pk).update(changed=99)
    assert run_what_if(run_id=run.pk) == WhatIfRun.Status.DONE  # a redelivered task does not recompute
    run.refresh_from_db()
    assert run.changed == 99


def test_an_incomplete_record_is_not_replayable_rather_than_an_error():
    assert not replay_signals({"facts": {"friend": {"country": "US"}}, "strong": []}).replayable
    assert not replay_signals({"first_order": {"facts": {"completed_at": "not a date"}}}).replayable
