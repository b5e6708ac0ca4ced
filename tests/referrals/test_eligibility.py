"""The pure eligibility rules (PROGRAM_RULES.md sections 2 and 6): no database needed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from referrals.eligibility import (
    ALLOWED,
    REJECTED,
    UNDER_REVIEW,
    AccountFacts,
    SignupFacts,
    decide,
    is_disposable_email,
)
from referrals.reasons import ReasonCode

FRIEND = AccountFacts(user_id=2, country="US", email_normalized="friend@example.com")
REFERRER = AccountFacts(
    user_id=1,
    country="US",
    email_normalized="referrer@example.com",
    phone="+14155550100",
    phone_verified=True,
    device_hashes=frozenset({"dev-referrer"}),
    card_fingerprints=frozenset({"card-referrer"}),
)
CLEAN = SignupFacts(friend=FRIEND, referrer=REFERRER, device_hash="dev-friend", ip_hash="ip-friend", ip_country="US")


def facts(**changes) -> SignupFacts:
    return replace(CLEAN, **changes)


def friend(**changes) -> AccountFacts:
    return replace(FRIEND, **changes)


def referrer(**changes) -> AccountFacts:
    return replace(REFERRER, **changes)


def test_no_link_means_no_referral():
    assert decide(facts(referrer=None)) is None


def test_a_clean_signup_is_allowed_and_keeps_its_signals():
    decision = decide(CLEAN)
    assert decision.outcome == ALLOWED
    assert decision.reason_code == ""
    assert decision.signals["strong"] == decision.signals["medium"] == decision.signals["weak"] == []
    assert decision.signals["facts"]["ip_country"] == "US"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"accounts_with_email": 1}, ReasonCode.ALREADY_REGISTERED),
        ({"accounts_with_phone": 1}, ReasonCode.ALREADY_REGISTERED),
        ({"accounts_with_card": 1}, ReasonCode.ALREADY_REGISTERED),
        ({"device_non_program_accounts": 1}, ReasonCode.ALREADY_REGISTERED),
        ({"device_hash": "dev-referrer"}, ReasonCode.SELF_REFERRAL),
        ({"friend": friend(phone="+14155550100")}, ReasonCode.SELF_REFERRAL),
        ({"friend": friend(card_fingerprints=frozenset({"card-referrer"}))}, ReasonCode.SELF_REFERRAL),
        ({"friend": friend(email_normalized="referrer@example.com")}, ReasonCode.SELF_REFERRAL),
        ({"device_program_accounts": 4}, ReasonCode.DEVICE_LIMIT),
        ({"friend": friend(region_in_program=False)}, ReasonCode.REGION_RESTRICTED),
        ({"referrer": referrer(region_in_program=False)}, ReasonCode.REGION_RESTRICTED),
        ({"ip_country": "GB"}, ReasonCode.REGION_MISMATCH),
        ({"friend": friend(status="flagged")}, ReasonCode.ACCOUNT_FLAGGED),
        ({"referrer": referrer(status="flagged")}, ReasonCode.ACCOUNT_FLAGGED),
        ({"referrer": referrer(status="suspended")}, ReasonCode.REFERRER_INACTIVE),
        ({"referrer": referrer(phone_verified=False)}, ReasonCode.REFERRER_INACTIVE),
    ],
)
def test_each_strong_rule_rejects_with_its_reason(changes, reason):
    decision = decide(facts(**changes))
    assert decision.outcome == REJECTED
    assert decision.reason_code == reason
    assert reason in decision.signals["strong"]


def test_device_limit_allows_the_fourth_account_and_refuses_the_fifth():
    assert decide(facts(device_program_accounts=3)).outcome == ALLOWED
    assert decide(facts(device_program_accounts=4)).reason_code == ReasonCode.DEVICE_LIMIT


def test_unknown_ip_country_is_not_a_mismatch():
    assert decide(facts(ip_country="")).outcome == ALLOWED


def test_flagged_wins_over_every_other_reason_and_all_hits_are_recorded():
    decision = decide(facts(friend=friend(status="flagged"), device_hash="dev-referrer", ip_country="GB"))
    assert decision.reason_code == ReasonCode.ACCOUNT_FLAGGED
    assert set(decision.signals["strong"]) == {
        ReasonCode.ACCOUNT_FLAGGED,
        ReasonCode.SELF_REFERRAL,
        ReasonCode.REGION_MISMATCH,
    }


def test_self_referral_is_reported_rather_than_already_registered():
    decision = decide(facts(device_hash="dev-referrer", accounts_with_email=1))
    assert decision.reason_code == ReasonCode.SELF_REFERRAL


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"referrer_shares_ip_and_agent": True, "referrer_shares_ip": True}, ReasonCode.SHARED_IP_AND_AGENT),
        ({"phone_country": "GB"}, ReasonCode.COUNTRY_SIGNAL_MISMATCH),
        ({"friend": friend(email_normalized="someone@mailinator.com")}, ReasonCode.DISPOSABLE_EMAIL),
        ({"ip_signups_last_day": 4}, ReasonCode.IP_BURST),
    ],
)
def test_each_medium_signal_sends_to_review(changes, reason):
    decision = decide(facts(**changes))
    assert decision.outcome == UNDER_REVIEW
    assert decision.reason_code == reason


def test_three_signups_from_one_ip_in_a_day_is_not_yet_a_burst():
    assert decide(facts(ip_signups_last_day=3)).outcome == ALLOWED


def test_a_strong_signal_beats_a_medium_one():
    decision = decide(facts(ip_signups_last_day=9, device_program_accounts=4))
    assert decision.outcome == REJECTED
    assert decision.signals["medium"] == [ReasonCode.IP_BURST]


def test_shared_ip_alone_is_recorded_without_effect():
    decision = decide(facts(referrer_shares_ip=True))
    assert decision.outcome == ALLOWED
    assert decision.signals["weak"] == [ReasonCode.SHARED_IP]


def test_phone_country_matching_ip_is_fine():
    assert decide(facts(phone_country="US")).outcome == ALLOWED


@pytest.mark.parametrize(
    ("email", "disposable"),
    [
        ("x@mailinator.com", True),
        ("x@MAILINATOR.COM", True),
        ("x@sub.mailinator.com", True),
        ("x@gmail.com", False),
        ("x@example.com", False),
        ("not-an-email", False),
    ],
)
def test_disposable_domains_come_from_the_maintained_list(email, disposable):
    assert is_disposable_email(email) is disposable


def test_signals_never_hold_full_hashes():
    decision = decide(facts(device_hash="d" * 64, ip_hash="i" * 64))
    assert decision.signals["facts"]["device_hash"] == "d" * 12
    assert decision.signals["facts"]["ip_hash"] == "i" * 12
