"""Write use cases for members: registration, profile, e-mail and phone verification,
identity sightings, and account status."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountDevice, AccountStatus, Device, IPSighting, PhoneVerification, User

logger = logging.getLogger(__name__)


@transaction.atomic
def register_member(*, email: str, password: str, first_name: str, last_name: str = "", country: str = "US") -> User:
    """Create a member account (e-mail unique, case-insensitive); the confirmation e-mail goes after commit."""
    user = User.objects.create_user(
        email=email, password=password, first_name=first_name, last_name=last_name, country=country
    )
    transaction.on_commit(lambda: _send_first_verification_email(user.pk))
    return user


def _send_first_verification_email(user_id: int) -> None:
    # A mail server hiccup must not fail the sign-up: the member can resend from the profile page.
    try:
        send_verification_email(user=User.objects.get(pk=user_id))
    except Exception:
        logger.exception("verification e-mail for user %s failed", user_id)


@transaction.atomic
def update_profile(
    *,
    user: User,
    first_name: str,
    last_name: str,
    country: str,
    language: str,
    currency: str,
    time_zone: str,
) -> User:
    """Save the member's own profile fields (already validated by ProfileForm); touches nothing else."""
    user.first_name = first_name
    user.last_name = last_name
    user.country = country
    user.language = language
    user.currency = currency.upper()
    user.time_zone = time_zone
    user.save(update_fields=["first_name", "last_name", "country", "language", "currency", "time_zone"])
    return user


# --- Rate limits -------------------------------------------------------------


def hit_rate_limit(*, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit in a fixed window; True when over `limit` (or the cache is down: then no SMS or e-mail)."""
    from referral_portal.ratelimit import allow

    return not allow(key=key, limit=limit, window_seconds=window_seconds, when_unavailable=False)


SIGNUP_RATE_WINDOW_SECONDS = 3600
SIGNUP_RATE_LIMITED_MESSAGE = (
    "There have been too many sign-up attempts from your internet connection. Please try again in an hour."
)


def signup_attempt_allowed(*, ip: str) -> bool:
    """Count one sign-up attempt from `ip`; False once more than SIGNUP_RATE_LIMIT fell in this hour.

    The caller counts every POST, valid or not, so repeated submissions cannot probe which typed
    invitation codes exist (PROGRAM_RULES.md section 1). The IP is keyed by its HMAC, never stored raw.
    """
    from accounts.identity import keyed_hash
    from referral_portal.ratelimit import allow

    # If the cache is unreachable, sign-ups pass (when_unavailable=True, logged by `allow`): unlike a
    # phone code, an attempt sends no SMS, and at most one confirmation e-mail per new address (an
    # address can register once). Refusing would turn a cache outage into "nobody can join"; the price,
    # accepted, is that typed codes can be probed unthrottled until the cache is back.
    return allow(
        key=f"signup:ip:{keyed_hash(ip or 'unknown', purpose='ip')}",
        limit=settings.SIGNUP_RATE_LIMIT,
        window_seconds=SIGNUP_RATE_WINDOW_SECONDS,
        when_unavailable=True,
    )


# --- E-mail verification -----------------------------------------------------

_EMAIL_SALT = "accounts.verify-email"
EMAIL_TOKEN_MAX_AGE = timedelta(days=3)
EMAIL_RESEND_LIMIT = 5  # per member per hour


class EmailVerificationError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def email_verification_token(*, user: User) -> str:
    """A signed, timestamped token naming the member and the address; changing the address voids it."""
    return signing.dumps({"u": user.pk, "e": user.email}, salt=_EMAIL_SALT, compress=True)


def send_verification_email(*, user: User) -> None:
    """E-mail the member a link that verifies their address; at most 5 a member per hour."""
    if user.email_verified_at is not None:
        return
    if hit_rate_limit(key=f"verify-email:user:{user.pk}", limit=EMAIL_RESEND_LIMIT, window_seconds=3600):
        raise EmailVerificationError(
            "RATE_LIMITED", "We have sent several links already. Check your inbox or try again in an hour."
        )
    path = reverse("accounts:verify_email", args=[email_verification_token(user=user)])
    context = {"user": user, "link": f"{settings.SITE_URL}{path}", "days": EMAIL_TOKEN_MAX_AGE.days}
    send_mail(
        subject=render_to_string("emails/verify_email.subject", context).strip(),
        message=render_to_string("emails/verify_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


@transaction.atomic
def verify_email(*, token: str) -> User:
    """Mark the address in a valid token as verified; idempotent, and void once the address changes."""
    try:
        data = signing.loads(token, salt=_EMAIL_SALT, max_age=EMAIL_TOKEN_MAX_AGE)
    except signing.SignatureExpired as error:
        raise EmailVerificationError("EXPIRED", "This link has expired. Request a new one below.") from error
    except signing.BadSignature as error:
        raise EmailVerificationError("INVALID", "This link is not valid. Request a new one below.") from error
    user = User.objects.select_for_update().filter(pk=data.get("u")).first()
    if user is None or user.email != data.get("e"):
        raise EmailVerificationError("INVALID", "This link is not valid. Request a new one below.")
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


# --- Phone verification ------------------------------------------------------

PHONE_CODE_TTL = timedelta(minutes=10)
PHONE_CODE_MAX_ATTEMPTS = 5
PHONE_CODES_PER_HOUR = 3  # per phone number and per member

PHONE_TAKEN_MESSAGE = "This phone number is already verified on another account."


class PhoneVerificationError(Exception):
    """A refused phone step; `message` is shown to the member as a form error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _code_hash(*, verification_user_id: int, phone: str, code: str) -> str:
    from accounts.identity import keyed_hash

    # Keyed (HMAC) rather than a plain hash: a 6-digit code has only a million
    # values, so an unkeyed hash would fall to a lookup table.
    return keyed_hash(f"{verification_user_id}:{phone}:{code}", purpose="phone-code")


def _phone_taken(*, phone: str, user: User) -> bool:
    return User.objects.filter(phone=phone, phone_verified_at__isnull=False).exclude(pk=user.pk).exists()


def request_phone_code(*, user: User, phone: str) -> PhoneVerification:
    """Text a fresh 6-digit code to `phone` (E.164); 3 codes per phone and per member an hour.

    1. refuse a number verified on another account, or already verified on this one;
    2. count the send against both rate limits (atomic cache counters);
    3. store only the keyed hash of the code, live for 10 minutes;
    4. send the SMS; if the provider refuses, nothing is stored.
    The member's current phone and its verification are untouched until a code is confirmed.
    """
    from accounts.identity import keyed_hash
    from accounts.sms import SMSDeliveryError, send_sms

    if user.phone == phone and user.phone_verified_at is not None:
        raise PhoneVerificationError("ALREADY_VERIFIED", "This number is already verified on your account.")
    if _phone_taken(phone=phone, user=user):
        raise PhoneVerificationError("PHONE_TAKEN", PHONE_TAKEN_MESSAGE)
    phone_key = f"phone-code:phone:{keyed_hash(phone, purpose='phone')}"
    over_phone = hit_rate_limit(key=phone_key, limit=PHONE_CODES_PER_HOUR, window_seconds=3600)
    over_user = hit_rate_limit(key=f"phone-code:user:{user.pk}", limit=PHONE_CODES_PER_HOUR, window_seconds=3600)
    if over_phone or over_user:
        raise PhoneVerificationError(
            "RATE_LIMITED", "Too many codes requested. Please wait an hour before asking for another one."
        )
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        verification = PhoneVerification.objects.create(
            user=user,
            phone=phone,
            code_hash=_code_hash(verification_user_id=user.pk, phone=phone, code=code),
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


def confirm_phone_code(*, user: User, code: str) -> User:
    """Verify the member's latest pending phone with `code`: single use, 10 minutes, 5 attempts.

    A wrong attempt is counted (and kept) even though the call raises; the
    member's previously verified phone stays as it was on every failure.
    """
    outcome = None
    with transaction.atomic():
        verification = (
            PhoneVerification.objects.select_for_update().filter(user=user).order_by("-created_at", "-pk").first()
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
            expected = _code_hash(verification_user_id=user.pk, phone=verification.phone, code=code.strip())
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
            elif _phone_taken(phone=verification.phone, user=user):
                outcome = _Outcome("PHONE_TAKEN", PHONE_TAKEN_MESSAGE)
            else:
                try:
                    with transaction.atomic():  # savepoint: a lost race must not undo the attempt count
                        User.objects.filter(pk=user.pk).update(phone=verification.phone, phone_verified_at=now)
                        verification.used_at = now
                        verification.save(update_fields=["used_at"])
                except IntegrityError:
                    outcome = _Outcome("PHONE_TAKEN", PHONE_TAKEN_MESSAGE)
    if outcome is not None:
        raise PhoneVerificationError(outcome.code, outcome.message)
    user.refresh_from_db(fields=["phone", "phone_verified_at"])
    return user


# --- Account status ----------------------------------------------------------

_REASON_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")


def _set_status(*, user: User, status: str, reason_code: str, actor, only_from: set[str] | None = None) -> User:
    locked = User.objects.select_for_update().get(pk=user.pk)
    if only_from is not None and locked.status not in only_from:
        return locked
    locked.status = status
    locked.status_reason = reason_code
    locked.status_changed_at = timezone.now()
    locked.save(update_fields=["status", "status_reason", "status_changed_at"])
    logger.info(
        "account %s status=%s reason=%s by=%s", locked.pk, status, reason_code or "-", getattr(actor, "pk", None)
    )
    user.status, user.status_reason, user.status_changed_at = (
        locked.status,
        locked.status_reason,
        locked.status_changed_at,
    )
    return locked


def _check_reason(reason_code: str) -> str:
    if not _REASON_RE.match(reason_code or ""):
        raise ValueError(f"reason_code must be an UPPER_SNAKE code, got {reason_code!r}")
    return reason_code


@transaction.atomic
def flag_account(*, user: User, reason_code: str, actor: User | None = None) -> User:
    """Flag an active or flagged account with a staff reason; a suspension is never softened to a flag."""
    return _set_status(
        user=user,
        status=AccountStatus.FLAGGED,
        reason_code=_check_reason(reason_code),
        actor=actor,
        only_from={AccountStatus.ACTIVE, AccountStatus.FLAGGED},
    )


@transaction.atomic
def clear_flag(*, user: User, actor: User | None = None) -> User:
    """Make a flagged account active again; does nothing to an active or suspended one."""
    return _set_status(
        user=user, status=AccountStatus.ACTIVE, reason_code="", actor=actor, only_from={AccountStatus.FLAGGED}
    )


@transaction.atomic
def suspend_account(*, user: User, reason_code: str, actor: User | None = None) -> User:
    """Suspend an account (from any status) with a staff reason."""
    return _set_status(user=user, status=AccountStatus.SUSPENDED, reason_code=_check_reason(reason_code), actor=actor)


@transaction.atomic
def reactivate(*, user: User, actor: User | None = None) -> User:
    """Make a flagged or suspended account active again."""
    return _set_status(user=user, status=AccountStatus.ACTIVE, reason_code="", actor=actor)


# --- Identity sightings ------------------------------------------------------


def purge_raw_ips(*, older_than_days: int | None = None) -> int:
    """Forget raw IPs older than the retention period (hashes and countries stay); returns rows purged."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from accounts.models import IPSighting

    days = settings.RAW_IP_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    # One UPDATE, not a loop: safe to run twice, and cheap when nothing is due.
    purged = IPSighting.objects.filter(seen_at__lt=cutoff, raw_ip__isnull=False).update(raw_ip=None)
    # django-axes keeps raw IPs in its login logs: same retention.
    from axes.models import AccessFailureLog, AccessLog

    AccessLog.objects.filter(attempt_time__lt=cutoff).delete()
    AccessFailureLog.objects.filter(attempt_time__lt=cutoff).delete()
    return purged


def device_for_request(request, *, fingerprint: str = "") -> Device:
    """The Device row of this browser (by the keyed hash of its cookie id), created on first use."""
    from django.utils import timezone

    from accounts.identity import keyed_hash

    device_id = getattr(request, "device_id", None) or ""
    id_hash = keyed_hash(device_id, purpose="device")
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    fingerprint_hash = keyed_hash(fingerprint, purpose="fingerprint") if fingerprint else ""
    device, created = Device.objects.get_or_create(
        id_hash=id_hash, defaults={"user_agent": user_agent, "fingerprint_hash": fingerprint_hash}
    )
    if not created:
        updates = {"last_seen_at": timezone.now()}
        if fingerprint_hash and device.fingerprint_hash != fingerprint_hash:
            updates["fingerprint_hash"] = fingerprint_hash
        Device.objects.filter(pk=device.pk).update(**updates)
    return device


def record_sighting(*, request, kind: str, user=None, fingerprint: str = "") -> tuple[Device, IPSighting]:
    """Record that `user` (or an anonymous visitor) did `kind` from this device and IP."""
    from django.utils import timezone

    from accounts.identity import ip_country, keyed_hash
    from accounts.requestinfo import client_ip

    device = device_for_request(request, fingerprint=fingerprint)
    ip = client_ip(request)
    sighting = IPSighting.objects.create(
        user=user,
        kind=kind,
        ip_hash=keyed_hash(ip, purpose="ip") if ip else "",
        ip_country=ip_country(ip) if ip else "",
        raw_ip=ip or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )
    if user is not None:
        now = timezone.now()
        link, created = AccountDevice.objects.get_or_create(
            user=user, device=device, defaults={"first_event": kind, "first_seen_at": now, "last_seen_at": now}
        )
        if not created:
            AccountDevice.objects.filter(pk=link.pk).update(last_seen_at=now)
    return device, sighting
