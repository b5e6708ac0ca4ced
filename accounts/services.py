"""Write use cases for who a member is: registration, profile, e-mail verification, account status and raw-IP
retention. Phone verification is `accounts.phone`; devices and IP sightings `accounts.devices`."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from axes.models import AccessFailureLog, AccessLog
from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.identity import keyed_hash
from accounts.locales import as_member
from accounts.models import AccountStatus, IPSighting, Notification, User
from lib.errors import DomainError
from lib.ratelimit import allow
from ops.services.outbox import enqueue_call

logger = logging.getLogger(__name__)


@transaction.atomic
def register_member(
    *, email: str, password: str, first_name: str, last_name: str = "", country: str = "US", language: str = ""
) -> User:
    """Create a member account (e-mail unique, case-insensitive); the confirmation e-mail goes after commit.

    `language` is the one the visitor signed up in (their browser's or the switcher's): from then on their
    profile language, which their pages, e-mails and notices follow. The confirmation e-mail is an outbox
    row written with the account, sent after commit and retried until it goes (never lost to a Redis or mail
    outage)."""
    languages = {code for code, _name in settings.LANGUAGES}
    user = User.objects.create_user(
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        country=country,
        language=language if language in languages else settings.LANGUAGE_CODE,
    )
    enqueue_call(target="accounts.services.send_first_verification_email", args=[user.pk])
    return user


def send_first_verification_email(user_id: int) -> None:
    """The sign-up's confirmation e-mail (an outbox target, dispatched once per row): not counted against
    the member's resend limit, so a cache outage (the limit's answer then is "refuse") cannot drop it."""
    member = User.objects.get(pk=user_id)
    if member.email_verified_at is None:
        _send_verification_link(member)


def set_language(*, member: User, language: str) -> None:
    """The member's UI language (one of settings.LANGUAGES, checked by the caller): pages, e-mails and notices."""
    User.objects.filter(pk=member.pk).update(language=language)
    member.language = language


@transaction.atomic
def update_profile(
    *,
    member: User,
    first_name: str,
    last_name: str,
    country: str,
    language: str,
    time_zone: str,
) -> User:
    """Save the member's own profile fields (already validated by ProfileForm); touches nothing else."""
    member.first_name = first_name
    member.last_name = last_name
    member.country = country
    member.language = language
    member.time_zone = time_zone
    member.save(update_fields=["first_name", "last_name", "country", "language", "time_zone"])
    return member


# --- Rate limits -------------------------------------------------------------


def hit_rate_limit(*, key: str, limit: int, window_seconds: int) -> bool:
    """Count one hit in a fixed window; True when over `limit` (or the cache is down: then no SMS or e-mail)."""
    return not allow(key=key, limit=limit, window_seconds=window_seconds, when_unavailable=False)


SIGNUP_RATE_WINDOW_SECONDS = 3600
SIGNUP_RATE_LIMITED_MESSAGE = gettext_lazy(
    "There have been too many sign-up attempts from your internet connection. Please try again in an hour."
)


def signup_attempt_allowed(*, ip: str) -> bool:
    """Count one sign-up attempt from `ip`; False once more than SIGNUP_RATE_LIMIT fell in this hour.

    The caller counts every POST, valid or not, so repeated submissions cannot probe which typed
    invitation codes exist (docs/program-rules.md section 1). The IP is keyed by its HMAC, never stored raw.
    """
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


class EmailVerificationError(DomainError):
    code = "EMAIL_VERIFICATION"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def email_verification_token(*, member: User) -> str:
    """A signed, timestamped token naming the member and the address; changing the address voids it."""
    return signing.dumps({"u": member.pk, "e": member.email}, salt=_EMAIL_SALT, compress=True)


def send_verification_email(*, member: User) -> None:
    """E-mail the member a link that verifies their address; at most 5 a member per hour."""
    if member.email_verified_at is not None:
        return
    if hit_rate_limit(key=f"verify-email:user:{member.pk}", limit=EMAIL_RESEND_LIMIT, window_seconds=3600):
        raise EmailVerificationError(
            "RATE_LIMITED", _("We have sent several links already. Check your inbox or try again in an hour.")
        )
    _send_verification_link(member)


def _send_verification_link(member: User) -> None:
    path = reverse("accounts:verify_email", args=[email_verification_token(member=member)])
    context = {"user": member, "link": f"{settings.SITE_URL}{path}", "days": EMAIL_TOKEN_MAX_AGE.days}
    with as_member(member):  # the member's language, whoever asks for the link
        subject = render_to_string("emails/verify_email.subject", context).strip()
        text = render_to_string("emails/verify_email.txt", context)
    send_mail(
        subject=subject,
        message=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[member.email],
    )


@transaction.atomic
def verify_email(*, token: str) -> User:
    """Mark the address in a valid token as verified; idempotent, and void once the address changes."""
    try:
        data = signing.loads(token, salt=_EMAIL_SALT, max_age=EMAIL_TOKEN_MAX_AGE)
    except signing.SignatureExpired as error:
        raise EmailVerificationError("EXPIRED", _("This link has expired. Request a new one below.")) from error
    except signing.BadSignature as error:
        raise EmailVerificationError("INVALID", _("This link is not valid. Request a new one below.")) from error
    user = User.objects.select_for_update().filter(pk=data.get("u")).first()
    if user is None or user.email != data.get("e"):
        raise EmailVerificationError("INVALID", _("This link is not valid. Request a new one below."))
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


# --- Account status ----------------------------------------------------------

_REASON_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,39}$")


def _set_status(
    *, member: User, status: str, reason_code: str, actor: User | None, only_from: set[str] | None = None
) -> User:
    locked = User.objects.select_for_update().get(pk=member.pk)
    if only_from is not None and locked.status not in only_from:
        return locked
    locked.status = status
    locked.status_reason = reason_code
    locked.status_changed_at = timezone.now()
    locked.save(update_fields=["status", "status_reason", "status_changed_at"])
    logger.info(
        "account %s status=%s reason=%s by=%s", locked.pk, status, reason_code or "-", getattr(actor, "pk", None)
    )
    member.status, member.status_reason, member.status_changed_at = (
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
def flag_account(*, member: User, reason_code: str, actor: User | None = None) -> User:
    """Flag an active or flagged account with a staff reason; a suspension is never softened to a flag."""
    return _set_status(
        member=member,
        status=AccountStatus.FLAGGED,
        reason_code=_check_reason(reason_code),
        actor=actor,
        only_from={AccountStatus.ACTIVE, AccountStatus.FLAGGED},
    )


@transaction.atomic
def clear_flag(*, member: User, actor: User | None = None) -> User:
    """Make a flagged account active again; does nothing to an active or suspended one."""
    return _set_status(
        member=member, status=AccountStatus.ACTIVE, reason_code="", actor=actor, only_from={AccountStatus.FLAGGED}
    )


@transaction.atomic
def suspend_account(*, member: User, reason_code: str, actor: User | None = None) -> User:
    """Suspend an account (from any status) with a staff reason."""
    return _set_status(
        member=member, status=AccountStatus.SUSPENDED, reason_code=_check_reason(reason_code), actor=actor
    )


@transaction.atomic
def reactivate(*, member: User, actor: User | None = None) -> User:
    """Make a flagged or suspended account active again."""
    return _set_status(member=member, status=AccountStatus.ACTIVE, reason_code="", actor=actor)


# --- Raw-IP retention ---------------------------------------------------------


def purge_raw_ips(*, older_than_days: int | None = None) -> int:
    """Forget raw IPs older than the retention period (hashes and countries stay); returns rows purged."""
    days = settings.RAW_IP_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    # One UPDATE, not a loop: safe to run twice, and cheap when nothing is due.
    purged = IPSighting.objects.filter(seen_at__lt=cutoff, raw_ip__isnull=False).update(raw_ip=None)
    # django-axes keeps raw IPs in its login logs: same retention.
    AccessLog.objects.filter(attempt_time__lt=cutoff).delete()
    AccessFailureLog.objects.filter(attempt_time__lt=cutoff).delete()
    return purged


def mark_notices_read(*, member: User, notice_id: int | None = None) -> int:
    """Mark one of the member's notices (or, without `notice_id`, all of them) read; returns how many changed.

    Only the member's own unread notices change: a notice already read keeps the time it was first read.
    """
    notices = Notification.objects.filter(user=member, read_at__isnull=True)
    if notice_id is not None:
        notices = notices.filter(pk=notice_id)
    return notices.update(read_at=timezone.now())
