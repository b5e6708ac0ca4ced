"""referrals.explain: every state and every reason code in plain words, with the next step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from referrals.explain import (
    SUPPORT_DISPUTE,
    SUPPORT_NOT_CREDITED,
    explain,
    friend_signup_notice,
)
from referrals.reasons import (
    FLAGGED_MESSAGE,
    REASON_WORDS,
    REFERRER_DEVICE_LIMIT_WORDS,
    ReasonCode,
    ReferralState,
)

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

# Where each reason code can appear on a referral.
STATE_FOR_REASON = {
    ReasonCode.ALREADY_REGISTERED: ReferralState.REJECTED,
    ReasonCode.SELF_REFERRAL: ReferralState.REJECTED,
    ReasonCode.DEVICE_LIMIT: ReferralState.REJECTED,
    ReasonCode.REGION_RESTRICTED: ReferralState.REJECTED,
    ReasonCode.REGION_MISMATCH: ReferralState.REJECTED,
    ReasonCode.ACCOUNT_FLAGGED: ReferralState.REJECTED,
    ReasonCode.REFERRER_INACTIVE: ReferralState.REJECTED,
    ReasonCode.FIRST_ORDER_CANCELED: ReferralState.VOIDED,
    ReasonCode.FIRST_ORDER_REFUNDED: ReferralState.VOIDED,
    ReasonCode.SHARED_PAYMENT_METHOD: ReferralState.REJECTED,
    ReasonCode.MONTHLY_LIMIT: ReferralState.CAPPED,
    ReasonCode.TECHNICAL_DELAY: ReferralState.QUALIFIED,
    ReasonCode.SHARED_IP_AND_AGENT: ReferralState.UNDER_REVIEW,
    ReasonCode.SHARED_FINGERPRINT: ReferralState.UNDER_REVIEW,
    ReasonCode.COUNTRY_SIGNAL_MISMATCH: ReferralState.UNDER_REVIEW,
    ReasonCode.DISPOSABLE_EMAIL: ReferralState.UNDER_REVIEW,
    ReasonCode.REFERRER_BURST: ReferralState.UNDER_REVIEW,
    ReasonCode.IP_BURST: ReferralState.UNDER_REVIEW,
    ReasonCode.SHARED_IP: ReferralState.REGISTERED,
    ReasonCode.STAFF_APPROVED: ReferralState.REGISTERED,
    ReasonCode.STAFF_REJECTED: ReferralState.REJECTED,
    ReasonCode.MANUAL_CREDIT: ReferralState.CREDITED,
    ReasonCode.REWARD_REVERSED: ReferralState.VOIDED,
}


def referral(state: str, reason_code: str = "", *, completed_hours_ago: float | None = None, **extra):
    completed_at = NOW - timedelta(hours=completed_hours_ago) if completed_hours_ago is not None else None
    return SimpleNamespace(state=state, reason_code=reason_code, completed_at=completed_at, **extra)


def test_every_reason_code_has_words_and_a_next_step():
    assert set(REASON_WORDS) == set(ReasonCode.values)
    for code, words in REASON_WORDS.items():
        assert words.why.strip() and words.next_step.strip(), code


@pytest.mark.parametrize("code", list(ReasonCode))
def test_each_reason_code_is_explained_in_its_state(code):
    state = STATE_FOR_REASON[code]
    hours = 30 if code == ReasonCode.TECHNICAL_DELAY else None
    result = explain(referral(state, code, completed_hours_ago=hours, month_ordinal=11), now=NOW)
    why, what_next = str(REASON_WORDS[code].why), str(REASON_WORDS[code].next_step)
    assert result.state == state
    assert why in result.reason
    assert result.next_step
    if code not in (ReasonCode.TECHNICAL_DELAY,):
        assert what_next in result.next_step or code in (ReasonCode.SHARED_IP, ReasonCode.STAFF_APPROVED)


@pytest.mark.parametrize("state", list(ReferralState))
def test_every_state_has_a_reason_and_a_next_step(state):
    result = explain(referral(state, completed_hours_ago=1), now=NOW)
    assert result.reason and result.next_step and result.tone in {"success", "info", "warning", "danger"}


def test_registered_tells_to_remind_about_welcome_package():
    result = explain(referral(ReferralState.REGISTERED), now=NOW)
    assert "No order yet" in result.reason
    assert "welcome coupons" in result.next_step
    assert not result.can_request_support


def test_order_placed_waits_for_completion():
    result = explain(referral(ReferralState.ORDER_PLACED), now=NOW)
    assert "completed" in result.reason
    assert not result.can_request_support


def test_qualified_within_24_hours_is_on_its_way():
    result = explain(referral(ReferralState.QUALIFIED, completed_hours_ago=23.9), now=NOW)
    assert not result.is_delayed
    assert "on its way" in result.reason
    assert not result.can_request_support


def test_qualified_after_24_hours_is_a_technical_delay_with_an_apology_but_no_support_yet():
    result = explain(referral(ReferralState.QUALIFIED, completed_hours_ago=24), now=NOW)
    assert result.is_delayed
    assert result.reason_code == ReasonCode.TECHNICAL_DELAY
    assert result.reason.startswith("Sorry")
    assert not result.can_request_support
    assert "48 hours" in result.next_step


def test_qualified_after_48_hours_offers_the_support_button():
    just_before = explain(referral(ReferralState.QUALIFIED, completed_hours_ago=47.99), now=NOW)
    at_48 = explain(referral(ReferralState.QUALIFIED, completed_hours_ago=48), now=NOW)
    assert not just_before.can_request_support
    assert at_48.is_delayed and at_48.reason.startswith("Sorry")
    assert at_48.support_kind == SUPPORT_NOT_CREDITED
    assert at_48.support_label


def test_credited_points_to_my_coupons():
    result = explain(referral(ReferralState.CREDITED), now=NOW)
    assert result.tone == "success"
    assert "My Coupons" in result.next_step
    assert not result.can_request_support


def test_capped_names_its_ordinal_in_the_month():
    month = datetime(2026, 11, 1, tzinfo=UTC)
    result = explain(
        referral(ReferralState.CAPPED, ReasonCode.MONTHLY_LIMIT, month_ordinal=11, counted_month=month), now=NOW
    )
    assert result.reason.startswith("Counted, not credited: friend number 11 to qualify in November 2026.")
    assert "never credited later" in result.next_step
    assert not result.can_request_support


def test_capped_without_ordinal_still_explains_the_limit():
    result = explain(referral(ReferralState.CAPPED, ReasonCode.MONTHLY_LIMIT), now=NOW)
    assert result.reason == REASON_WORDS[ReasonCode.MONTHLY_LIMIT].why


@pytest.mark.parametrize("code", [ReasonCode.FIRST_ORDER_CANCELED, ReasonCode.FIRST_ORDER_REFUNDED])
def test_voided_says_which_and_offers_no_dispute(code):
    result = explain(referral(ReferralState.VOIDED, code), now=NOW)
    assert result.tone == "danger"
    assert ("canceled" if code == ReasonCode.FIRST_ORDER_CANCELED else "refunded") in result.reason
    assert not result.can_request_support


def test_rejected_offers_i_think_this_is_wrong():
    result = explain(referral(ReferralState.REJECTED, ReasonCode.SELF_REFERRAL), now=NOW)
    assert result.support_kind == SUPPORT_DISPUTE
    assert result.support_label == "I think this is wrong"


def test_flagged_reason_shows_only_the_security_message():
    result = explain(referral(ReferralState.REJECTED, ReasonCode.ACCOUNT_FLAGGED), now=NOW)
    assert result.reason == FLAGGED_MESSAGE
    assert "flag" not in result.reason.lower() and "flag" not in result.next_step.lower()


def test_under_review_says_a_person_decides():
    result = explain(referral(ReferralState.UNDER_REVIEW, ReasonCode.IP_BURST), now=NOW)
    assert "by hand" in result.reason
    assert not result.can_request_support


def test_a_referrer_burst_review_says_why_and_that_the_coupon_follows_if_approved():
    result = explain(referral(ReferralState.UNDER_REVIEW, ReasonCode.REFERRER_BURST, completed_hours_ago=1), now=NOW)
    assert "more than 3 of your friends qualified within 24 hours" in result.reason
    assert "coupon follows if it is approved" in result.next_step
    assert result.tone == "warning" and not result.can_request_support


def test_a_first_order_voided_for_a_card_seen_on_another_account_explains_it():
    result = explain(referral(ReferralState.VOIDED, ReasonCode.ALREADY_REGISTERED, completed_hours_ago=1), now=NOW)
    assert "card was already used by another account" in result.reason
    assert result.tone == "danger"


# --- What the friend reads right after signing up (friend_signup_notice) ---------------------

NOT_APPLIED = "Your invitation could not be applied: "
# Words that would name a fraud signal or point at the referrer.
REVEALING = ("device", "card", "e-mail", "email", "phone", "same", "referrer", "your friend", "flag", "suspend")


@pytest.mark.parametrize(
    ("reason_code", "why"),
    [
        (ReasonCode.REGION_MISMATCH, "your location does not match your account region"),
        (ReasonCode.REGION_RESTRICTED, "the Invite Friends program is not available in your country"),
        (ReasonCode.ALREADY_REGISTERED, "invitations are only for people who are new to the marketplace"),
        (ReasonCode.SELF_REFERRAL, "invitations are only for people who are new to the marketplace"),
        (ReasonCode.DEVICE_LIMIT, "invitations are only for people who are new to the marketplace"),
        (ReasonCode.REFERRER_INACTIVE, "this invitation is not active"),
        (ReasonCode.STAFF_REJECTED, "this invitation does not meet the program rules"),
        ("SOMETHING_NEW", "this invitation does not meet the program rules"),
    ],
)
def test_a_rejected_friend_is_told_the_account_is_ready_and_why_in_friend_words(reason_code, why):
    text = friend_signup_notice(state=ReferralState.REJECTED, reason_code=reason_code, friend_region_in_program=False)
    assert text == f"{NOT_APPLIED}{why}."
    assert not any(word in text.lower() for word in REVEALING)


def test_a_flagged_account_reads_exactly_the_security_sentence():
    text = friend_signup_notice(state=ReferralState.REJECTED, reason_code=ReasonCode.ACCOUNT_FLAGGED)
    assert text == FLAGGED_MESSAGE == "For security reasons, your request cannot be processed."


@pytest.mark.parametrize("reason_code", [ReasonCode.SELF_REFERRAL, ReasonCode.ACCOUNT_FLAGGED, ReasonCode.DEVICE_LIMIT])
def test_a_friend_flagged_by_their_own_sign_up_reads_exactly_the_security_sentence(reason_code):
    # A device ring flags the new account in the sign-up itself: the rejection's own words would say more.
    text = friend_signup_notice(state=ReferralState.REJECTED, reason_code=reason_code, friend_flagged=True)
    assert text == FLAGGED_MESSAGE


def test_restricted_region_on_the_referrers_side_is_not_blamed_on_the_friends_country():
    text = friend_signup_notice(
        state=ReferralState.REJECTED, reason_code=ReasonCode.REGION_RESTRICTED, friend_region_in_program=True
    )
    assert text == f"{NOT_APPLIED}this invitation cannot be used in the program."
    assert "country" not in text


def test_every_signup_rejection_reason_has_its_own_friend_words():
    signup_rejections = {code for code, state in STATE_FOR_REASON.items() if state == ReferralState.REJECTED} - {
        ReasonCode.ACCOUNT_FLAGGED,
        ReasonCode.SHARED_PAYMENT_METHOD,
        ReasonCode.STAFF_REJECTED,
    }
    assert signup_rejections == {code for code, words in REASON_WORDS.items() if words.friend}


@pytest.mark.parametrize(
    "reason_code",
    [
        ReasonCode.SHARED_IP_AND_AGENT,
        ReasonCode.SHARED_FINGERPRINT,
        ReasonCode.COUNTRY_SIGNAL_MISMATCH,
        ReasonCode.DISPOSABLE_EMAIL,
        ReasonCode.IP_BURST,
    ],
)
def test_a_friend_under_review_is_told_the_welcome_coupons_wait_for_a_check_never_why(reason_code):
    text = friend_signup_notice(state=ReferralState.UNDER_REVIEW, reason_code=reason_code)
    assert text == (
        "Your welcome coupons are waiting for a quick check by our team; "
        "they appear in My Coupons as soon as it is done, usually within a day."
    )
    assert not any(word in text.lower() for word in REVEALING)


def test_a_registered_friend_is_pointed_at_the_welcome_coupons_and_other_states_say_nothing():
    assert friend_signup_notice(state=ReferralState.REGISTERED) == (
        "Your welcome coupons are here, ready for your first orders."
    )
    for state in (ReferralState.ORDER_PLACED, ReferralState.CREDITED, ReferralState.VOIDED):
        assert friend_signup_notice(state=state, reason_code=ReasonCode.FIRST_ORDER_CANCELED) == ""


@pytest.mark.parametrize(
    "stored", [{"signals": {"checks": {"referrer_device_limit": True}}}, {"referrer_device_limit": "true"}]
)
def test_a_device_limit_on_the_referrers_side_is_explained_to_the_referrer(stored):
    result = explain(referral(ReferralState.REJECTED, ReasonCode.DEVICE_LIMIT, **stored), now=NOW)
    assert (result.reason, result.next_step) == (REFERRER_DEVICE_LIMIT_WORDS.why, REFERRER_DEVICE_LIMIT_WORDS.next_step)


def test_a_device_limit_on_the_friends_side_keeps_the_friend_device_words():
    result = explain(referral(ReferralState.REJECTED, ReasonCode.DEVICE_LIMIT, referrer_device_limit="false"), now=NOW)
    assert result.reason == REASON_WORDS[ReasonCode.DEVICE_LIMIT].why
