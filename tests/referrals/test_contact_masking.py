"""Signals and timelines keep keyed hashes and masked forms of e-mail addresses and phones, never the clear value
(issue 16; docs/program-rules.md section 6; lib/masking.py, referrals.eligibility.contact_signals)."""

from __future__ import annotations

import json
from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse

from accounts.identity import keyed_hash
from lib.masking import mask_email, mask_phone, redact_contacts
from referrals.models import Referral, ReferralEvent
from referrals.services.timeline import record_note
from tests.factories import ReferralCodeFactory, ReferralFactory
from tests.referrals.test_signup import signup

pytestmark = pytest.mark.django_db

MIGRATION = "referrals.migrations.0013_mask_contacts_in_signals_and_timelines"


def test_masked_forms_let_a_person_recognise_the_value_but_not_read_it():
    assert mask_email("jordan.smith@example.com") == "j•••@e•••.com"
    assert mask_phone("+14155550123") == "+1415•••••23"
    assert redact_contacts("Called +1 415 555 0123 and wrote to jo@mail.example.org") == (
        "Called +1415•••••23 and wrote to j•••@m•••.org"
    )


def test_a_sign_up_through_a_link_stores_no_clear_email_or_phone_in_the_signals(client):
    code = ReferralCodeFactory(user__email="maya.referrer@example.com", user__phone="+14155550199")
    client.get(reverse("referrals:click", args=[code.code]))
    assert signup(client, email="fred.friend@example.com").status_code == 302
    referral = Referral.objects.get(code=code)
    stored = json.dumps(referral.signals)
    for clear in ("fred.friend@example.com", "maya.referrer@example.com", "+14155550199", "fredfriend@example.com"):
        assert clear not in stored
    friend, referrer = referral.signals["facts"]["friend"], referral.signals["facts"]["referrer"]
    assert friend["email_masked"] == "f•••@e•••.com"
    assert friend["email_hash"] == keyed_hash(referral.friend.email_normalized, purpose="email")[:16]
    assert referrer["phone_masked"] == "+1415•••••99" and referrer["phone_hash"]
    assert "email_normalized" not in friend and "phone" not in referrer


def test_a_timeline_note_never_keeps_an_email_or_phone():
    referral = ReferralFactory()
    event = record_note(referral=referral, note="Friend wrote from fred@example.com, phone +14155550123")
    assert event.note == "Friend wrote from f•••@e•••.com, phone +1415•••••23"


def test_the_migration_rewrites_rows_written_before():
    referral = ReferralFactory()
    old = {
        "strong": [],
        "facts": {
            "friend": {"user_id": 2, "email_normalized": "fred@example.com", "phone": "+14155550123"},
            "referrer": {"user_id": 1, "email_normalized": "maya@example.com", "phone": ""},
        },
        "rerun": {"signals": {"facts": {"friend": {"email_normalized": "fred@example.com", "phone": ""}}}},
    }
    Referral.objects.filter(pk=referral.pk).update(signals=old)
    event = ReferralEvent.objects.create(referral=referral, to_state="registered", note="Asked maya@example.com")
    import_module(MIGRATION).forward(apps, None)
    referral.refresh_from_db()
    event.refresh_from_db()
    stored = json.dumps(referral.signals) + event.note
    for clear in ("fred@example.com", "maya@example.com", "+14155550123"):
        assert clear not in stored
    friend = referral.signals["facts"]["friend"]
    assert friend == {
        "user_id": 2,
        "email_hash": keyed_hash("fred@example.com", purpose="email")[:16],
        "email_masked": "f•••@e•••.com",
        "phone_hash": keyed_hash("+14155550123", purpose="phone")[:16],
        "phone_masked": "+1415•••••23",
    }
    assert referral.signals["rerun"]["signals"]["facts"]["friend"]["email_masked"] == "f•••@e•••.com"
    assert event.note == "Asked m•••@e•••.com"
