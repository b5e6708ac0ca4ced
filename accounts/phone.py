"""Phone verification: a 6-digit code by SMS, single use, 10 minutes, 5 attempts; a verified number belongs to one
account (the unique constraint on User.phone where verified)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.identity import keyed_hash
from accounts.models import PhoneVerification, User
from accounts.services import hit_rate_limit
from accounts.sms import SMSDeliveryError, send_sms
from lib.errors import DomainError

PHONE_CODE_TTL = timedelta(minutes=10)
PHONE_CODE_MAX_ATTEMPTS = 5
PHONE_CODES_PER_HOUR = 3  # per phone number and per member

PHONE_TAKEN_MESSAGE = "This phone number is already verified on another account."


class PhoneVerificationError(DomainError):
    """A refused phone step; `message` is shown to the member as a form error."""

    code = "PHONE_VERIFICATION"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def _code_hash(*, verification_user_id: int, phone: str, code: str) -> str:
    # Keyed (HMAC) rather than a plain hash: a 6-digit code has only a million
    # values, so an unkeyed hash would fall to a lookup table.
    return keyed_hash(f"{verification_user_id}:{phone}:{code}", purpose="phone-code")


def _phone_taken(*, phone: str, member: User) -> bool:
    return User.objects.filter(phone=phone, phone_verified_at__isnull=False).exclude(pk=member.pk).exists()


def request_phone_code(*, member: User, phone: str) -> PhoneVerification:
    """Text a fresh 6-digit code to `phone` (E.164); 3 codes per phone and per member an hour.

    1. count the attempt against both rate limits (atomic cache counters), whatever its answer;
    2. refuse a number verified on another account, or already verified on this one;
    3. store only the keyed hash of the code, live for 10 minutes;
    4. send the SMS; if the provider refuses, nothing is stored.
    The member's current phone and its verification are untouched until a code is confirmed.
    """
    # Every attempt counts, whatever its answer (a taken number included): the limits are what stops a member
    # from probing which numbers other accounts have verified.
    phone_key = f"phone-code:phone:{keyed_hash(phone, purpose='phone')}"
    over_phone = hit_rate_limit(key=phone_key, limit=PHONE_CODES_PER_HOUR, window_seconds=3600)
    over_user = hit_rate_limit(key=f"phone-code:user:{member.pk}", limit=PHONE_CODES_PER_HOUR, window_seconds=3600)
    if over_phone or over_user:
        raise PhoneVerificationError(
            "RATE_LIMITED", "Too many codes requested. Please wait an hour before asking for another one."
        )
    if member.phone == phone and member.phone_verified_at is not None:
        raise PhoneVerificationError("ALREADY_VERIFIED", "This number is already verified on your account.")
    if _phone_taken(phone=phone, member=member):
        raise PhoneVerificationError("PHONE_TAKEN", PHONE_TAKEN_MESSAGE)
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        verification = PhoneVerification.objects.create(
            user=member,
            phone=phone,
            code_hash=_code_hash(verification_user_id=member.pk, phone=phone, code=code),
            created_at=now,
            expires_at=now + PHONE_CODE_TTL,
        )
        try:
            send_sms(phone=phone, message=f"Your Referral Portal code is {code}. It expires in 10 minutes.")
        except SMSDeliveryError as error:
            transaction.set_rollback(True)
            raise PhoneVerificationError(
                "SMS_FAILED", "We could not send a text to this number. Check it and try again."
            ) from error
    return verification


@dataclass(frozen=True)
class _Outcome:
    code: str
    message: str


def confirm_phone_code(*, member: User, code: str) -> User:
    """Verify the member's latest pending phone with `code`: single use, 10 minutes, 5 attempts.

    A wrong attempt is counted (and kept) even though the call raises; the
    member's previously verified phone stays as it was on every failure.
    """
    outcome = None
    with transaction.atomic():
        verification = (
            PhoneVerification.objects.select_for_update().filter(user=member).order_by("-created_at", "-pk").first()
        )
        now = timezone.now()
        if verification is None:
            outcome = _Outcome("NO_CODE", "Request a code first.")
        elif verification.used_at is not None:
            outcome = _Outcome("CODE_USED", "This code has already been used. Request a new code if you need one.")
        elif verification.expires_at <= now:
            outcome = _Outcome("CODE_EXPIRED", "This code has expired. Request a new one.")
        elif verification.attempts >= PHONE_CODE_MAX_ATTEMPTS:
            outcome = _Outcome("TOO_MANY_ATTEMPTS", "Too many wrong attempts. Request a new code.")
        else:
            expected = _code_hash(verification_user_id=member.pk, phone=verification.phone, code=code.strip())
            if not hmac.compare_digest(expected, verification.code_hash):
                verification.attempts += 1
                verification.save(update_fields=["attempts"])
                left = PHONE_CODE_MAX_ATTEMPTS - verification.attempts
                outcome = (
                    _Outcome("WRONG_CODE", f"This code is not correct. {left} attempt{'s' if left != 1 else ''} left.")
                    if left
                    else _Outcome(
                        "TOO_MANY_ATTEMPTS", "This code is not correct. Too many wrong attempts: request a new code."
                    )
                )
            elif _phone_taken(phone=verification.phone, member=member):
                outcome = _Outcome("PHONE_TAKEN", PHONE_TAKEN_MESSAGE)
            else:
                try:
                    with transaction.atomic():  # savepoint: a lost race must not undo the attempt count
                        User.objects.filter(pk=member.pk).update(phone=verification.phone, phone_verified_at=now)
                        verification.used_at = now
                        verification.save(update_fields=["used_at"])
                except IntegrityError:
                    outcome = _Outcome("PHONE_TAKEN", PHONE_TAKEN_MESSAGE)
    if outcome is not None:
        raise PhoneVerificationError(outcome.code, outcome.message)
    member.refresh_from_db(fields=["phone", "phone_verified_at"])
    return member
