"""Remove a staff member's authenticator so they enrol a new one at their next sign-in (lost phone)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from support.audit import record_staff_action


class Command(BaseCommand):
    help = "Remove the authenticator app(s) of a staff member; they set up a new one at their next sign-in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The staff member's e-mail address.")
        parser.add_argument(
            "--reason", required=True, help="Why (kept in the audit log), e.g. 'lost phone, ticket 123'."
        )

    def handle(self, *args, email: str, reason: str, **options) -> None:
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account with the e-mail address {email!r}.")
        if not reason.strip():
            raise CommandError("Give a reason (--reason).")
        with transaction.atomic():
            removed, _ = TOTPDevice.objects.filter(user=user).delete()
            record_staff_action(
                actor=None,
                action="second factor reset",
                target=user,
                reason=reason.strip(),
                details={"devices_removed": removed, "by": "manage.py reset_second_factor"},
            )
        self.stdout.write(
            f"Removed {removed} authenticator(s) of {user.email}; they enrol again at their next sign-in."
        )
