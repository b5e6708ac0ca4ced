"""The pure eligibility rules (docs/program-rules.md sections 2 and 6): no database needed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from referrals.eligibility import (
    ALLOWED,
    REJECTED,
    UNDER_REVIEW,
    VOIDED,
    AccountFacts,
    FirstOrderFacts,
    SignupFacts,
    busiest_window,
    decide,
    decide_first_order,
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


@pytest.mark.parametrize(
    ("takes_part", "others_on_device", "outcome"),
    [(False, 4, REJECTED), (False, 3, ALLOWED), (True, 4, ALLOWED), (True, 9, ALLOWED)],
)
def test_a_referrer_who_would_be_an_extra_account_on_a_device_cannot_join(takes_part, others_on_device, outcome):
    decision = decide(facts(referrer_takes_part=takes_part, referrer_device_program_accounts=others_on_device))
    assert decision.outcome == outcome
    assert decision.signals["checks"]["referrer_device_limit"] is (outcome == REJECTED)
    if outcome == REJECTED:
        assert decision.reason_code == ReasonCode.DEVICE_LIMIT


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
    assert set(decision.signals["strong"]) == {ReasonCode.ACCOUNT_FLAGGED, ReasonCode.SELF_REFERRAL}
    assert decision.signals["medium"] == [ReasonCode.REGION_MISMATCH]


def test_self_referral_is_reported_rather_than_already_registered():
    decision = decide(facts(device_hash="dev-referrer", accounts_with_email=1))
    assert decision.reason_code == ReasonCode.SELF_REFERRAL


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"referrer_shares_ip_and_agent": True, "referrer_shares_ip": True}, ReasonCode.SHARED_IP_AND_AGENT),
        (
            {
                "fingerprint_hash": "fp-1",
                "referrer": referrer(fingerprint_hashes=frozenset({"fp-1"})),
                "referrer_shares_ip": True,
            },
            ReasonCode.SHARED_FINGERPRINT,
        ),
        # Travellers and VPNs are common: a location unlike the account's country is a review, never a rejection.
        ({"ip_country": "GB", "phone_country": "US"}, ReasonCode.REGION_MISMATCH),
        ({"phone_country": "GB"}, ReasonCode.COUNTRY_SIGNAL_MISMATCH),
        ({"friend": friend(email_normalized="someone@mailinator.com")}, ReasonCode.DISPOSABLE_EMAIL),
        ({"ip_signups_last_day": 4}, ReasonCode.IP_BURST),
    ],
)
def test_each_medium_signal_sends_to_review(changes, reason):
    decision = decide(facts(**changes))
    assert decision.outcome == UNDER_REVIEW
    assert decision.reason_code == reason


def test_the_referrers_browser_fingerprint_from_the_referrers_ip_sends_to_review():
    decision = decide(
        facts(
            fingerprint_hash="fp-shared",
            referrer=referrer(fingerprint_hashes=frozenset({"fp-shared"})),
            referrer_shares_ip=True,
        )
    )
    assert decision.outcome == UNDER_REVIEW
    assert decision.reason_code == ReasonCode.SHARED_FINGERPRINT
    assert decision.signals["medium"] == [ReasonCode.SHARED_FINGERPRINT]
    assert decision.signals["weak"] == [ReasonCode.SHARED_IP]
    assert decision.signals["checks"]["same_fingerprint_as_referrer"] is True
    assert decision.signals["facts"]["fingerprint_hash"] == "fp-shared"
    assert decision.signals["facts"]["referrer"]["fingerprint_hashes"] == ["fp-shared"]


def test_the_referrers_browser_fingerprint_from_another_ip_is_only_recorded():
    """Many people share the soft fingerprint (same screen, time zone, language, platform): alone it is weak."""
    decision = decide(
        facts(fingerprint_hash="fp-shared", referrer=referrer(fingerprint_hashes=frozenset({"fp-shared"})))
    )
    assert decision.outcome == ALLOWED
    assert decision.signals["medium"] == []
    assert decision.signals["weak"] == [ReasonCode.SHARED_FINGERPRINT]
    assert decision.signals["checks"]["same_fingerprint_as_referrer"] is True


@pytest.mark.parametrize(
    ("friend_fingerprint", "referrer_fingerprints"),
    [("", frozenset({""})), ("", frozenset({"fp-referrer"})), ("fp-friend", frozenset({"fp-referrer"}))],
)
def test_an_empty_or_different_fingerprint_is_no_signal(friend_fingerprint, referrer_fingerprints):
    decision = decide(
        facts(fingerprint_hash=friend_fingerprint, referrer=referrer(fingerprint_hashes=referrer_fingerprints))
    )
    assert decision.outcome == ALLOWED
    assert decision.signals["checks"]["same_fingerprint_as_referrer"] is False


def test_the_same_device_cookie_is_self_referral_not_a_shared_fingerprint():
    decision = decide(
        facts(
            device_hash="dev-referrer",
            fingerprint_hash="fp-shared",
            referrer=referrer(fingerprint_hashes=frozenset({"fp-shared"})),
        )
    )
    assert decision.reason_code == ReasonCode.SELF_REFERRAL
    assert ReasonCode.SHARED_FINGERPRINT not in decision.signals["medium"]


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


# --- The friend's first order: card links and referrer bursts ---------------------------------------

DONE = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
CLEAN_ORDER = FirstOrderFacts(order="ORD-1", card_fingerprint="fp_friend_card_0123456789")


def test_a_friends_own_card_is_allowed_and_the_decision_keeps_its_signals():
    decision = decide_first_order(CLEAN_ORDER)
    assert (decision.outcome, decision.reason_code) == (ALLOWED, "")
    assert decision.signals["strong"] == decision.signals["medium"] == []
    assert decision.signals["facts"]["card_fingerprint"] == "fp_friend_ca"  # a prefix, never the whole value
    assert "referrer_burst" not in decision.signals["facts"]  # not read before completion


@pytest.mark.parametrize(
    ("changes", "reason", "check"),
    [
        ({"card_used_by_referrer": True}, ReasonCode.SHARED_PAYMENT_METHOD, "card_used_by_referrer"),
        (
            {"card_accounts_on_referrer_devices": (7,)},
            ReasonCode.SHARED_PAYMENT_METHOD,
            "card_used_on_referrers_devices",
        ),
        (
            {"card_accounts_before_friend": (9, 11)},
            ReasonCode.ALREADY_REGISTERED,
            "card_used_before_by_another_account",
        ),
    ],
)
def test_a_card_seen_elsewhere_voids_at_first_order(changes, reason, check):
    decision = decide_first_order(replace(CLEAN_ORDER, **changes))
    assert (decision.outcome, decision.reason_code) == (VOIDED, reason)
    assert decision.signals["strong"] == [reason]
    assert decision.signals["checks"][check] is True
    for name, value in changes.items():
        if isinstance(value, tuple):
            assert decision.signals["facts"][name] == list(value)


def test_a_card_linked_to_the_referrer_is_named_first_when_it_is_also_on_another_account():
    decision = decide_first_order(replace(CLEAN_ORDER, card_used_by_referrer=True, card_accounts_before_friend=(9,)))
    assert decision.reason_code == ReasonCode.SHARED_PAYMENT_METHOD
    assert decision.signals["strong"] == [ReasonCode.SHARED_PAYMENT_METHOD, ReasonCode.ALREADY_REGISTERED]


def completion(*others: tuple[int, datetime]) -> FirstOrderFacts:
    return replace(CLEAN_ORDER, completed_at=DONE, referrer_qualified_nearby=tuple(others))


def test_the_fourth_qualified_friend_within_24_hours_goes_to_review_with_the_burst_signals():
    decision = decide_first_order(completion((1, DONE - 23 * H), (2, DONE - 5 * H), (3, DONE)))
    assert (decision.outcome, decision.reason_code) == (UNDER_REVIEW, ReasonCode.REFERRER_BURST)
    burst = decision.signals["facts"]["referrer_burst"]
    assert burst["other_qualified_friends"] == 3
    assert burst["other_referral_ids"] == [1, 2, 3]
    assert (burst["limit"], burst["window_hours"]) == (3, 24)
    assert burst["window_start"] == (DONE - 23 * H).isoformat()
    assert decision.signals["checks"]["referrer_burst"] is True


def test_the_third_qualified_friend_within_24_hours_is_fine():
    decision = decide_first_order(completion((1, DONE - 2 * H), (2, DONE - H)))
    assert decision.outcome == ALLOWED
    assert decision.signals["facts"]["referrer_burst"]["other_qualified_friends"] == 2


def test_a_completion_exactly_24_hours_earlier_is_outside_the_window():
    edge = (1, DONE - 24 * H)
    assert decide_first_order(completion(edge, (2, DONE - H), (3, DONE - H))).outcome == ALLOWED
    just_inside = (1, DONE - 24 * H + timedelta(seconds=1))
    assert decide_first_order(completion(just_inside, (2, DONE - H), (3, DONE - H))).outcome == UNDER_REVIEW


def test_completions_heard_before_this_one_but_that_happened_after_it_count():
    # Events arrive out of order: friends who completed after this one were decided first.
    decision = decide_first_order(completion((1, DONE + H), (2, DONE + 2 * H), (3, DONE + 23 * H)))
    assert decision.outcome == UNDER_REVIEW
    # ... but only inside one 24-hour window: 3 others spread over 46 hours are no burst.
    spread = completion((1, DONE - 23 * H), (2, DONE + 23 * H), (3, DONE + 23 * H + timedelta(minutes=30)))
    assert decide_first_order(spread).outcome == ALLOWED


def test_busiest_window_picks_the_window_with_most_completions():
    start, ids = busiest_window(DONE, ((1, DONE - 20 * H), (2, DONE + H), (3, DONE + 3 * H), (4, DONE + 30 * H)))
    assert (start, ids) == (DONE - 20 * H, [1, 2, 3])
    assert busiest_window(DONE, ()) == (DONE, [])


def test_a_strong_card_signal_beats_a_burst():
    facts = replace(completion((1, DONE), (2, DONE), (3, DONE)), card_accounts_before_friend=(5,))
    decision = decide_first_order(facts)
    assert (decision.outcome, decision.reason_code) == (VOIDED, ReasonCode.ALREADY_REGISTERED)
    assert decision.signals["medium"] == [ReasonCode.REFERRER_BURST]
