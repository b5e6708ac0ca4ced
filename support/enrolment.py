"""The first authenticator enrolment of a staff member needs a one-time link (docs/program-rules.md G5).

A stolen password alone must not let anyone enrol their own authenticator on a staff account that never had one:
the set-up page opens only after the staff member follows a link e-mailed to their address (or created for them by
a superuser), valid `ENROLMENT_LINK_TTL`, usable once. Only the link's keyed hash is stored.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.identity import keyed_hash
from accounts.models import User
from accounts.services import hit_rate_limit
from lib.errors import DomainError
from support.models import StaffEnrolmentLink

ENROLMENT_LINK_TTL = timedelta(minutes=30)
ENROLMENT_EMAILS_PER_HOUR = 3


class EnrolmentLinkRefused(DomainError):
    """The link is unknown, someone else's, used or expired (one message for all: a guesser learns nothing)."""

    code = "ENROLMENT_LINK_REFUSED"


def _hash(token: str) -> str:
    return keyed_hash(token, purpose="staff-enrolment")


def create_enrolment_link(*, user: User, created_by: User | None = None, now: datetime | None = None) -> str:
    """A fresh one-time token for `user` (staff), valid ENROLMENT_LINK_TTL; earlier unused links stop working."""
    if not (user.is_staff and user.is_active):
        raise EnrolmentLinkRefused(_("Only an active staff account enrols an authenticator."))
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        StaffEnrolmentLink.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
        StaffEnrolmentLink.objects.create(
            user=user,
            token_hash=_hash(token),
            created_by=created_by,
            created_at=now,
            expires_at=now + ENROLMENT_LINK_TTL,
        )
    return token


def email_enrolment_link(*, user: User, url_for_token) -> bool:
    """E-mail a fresh link to the staff member's own address; False when over ENROLMENT_EMAILS_PER_HOUR."""
    if hit_rate_limit(key=f"staff-enrolment:{user.pk}", limit=ENROLMENT_EMAILS_PER_HOUR, window_seconds=3600):
        return False
    token = create_enrolment_link(user=user)
    minutes = int(ENROLMENT_LINK_TTL.total_seconds() // 60)
    send_mail(
        subject=_("Set up your authenticator for the Referral Portal staff console"),
        message=_(
            "Someone signed in to your staff account with your password and asked to set up an authenticator app.\n"
            "If it was you, open this link within %(minutes)s minutes (it works once):\n\n%(url)s\n\n"
            "If it was not you, change your password now and tell a superuser."
        )
        % {"minutes": minutes, "url": url_for_token(token)},
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True


def redeem_enrolment_link(*, user: User, token: str, now: datetime | None = None) -> StaffEnrolmentLink:
    """Use the link once: it must be `user`'s, unused and unexpired. Returns it (its expiry bounds the set-up)."""
    now = now or timezone.now()
    with transaction.atomic():
        link = StaffEnrolmentLink.objects.select_for_update().filter(token_hash=_hash(token)).first()
        if link is None or link.user_id != user.pk or link.used_at is not None or link.expires_at <= now:
            raise EnrolmentLinkRefused(
                _("This set-up link is not valid any more (used, expired or not yours). Ask for a new one.")
            )
        link.used_at = now
        link.save(update_fields=["used_at"])
    return link
