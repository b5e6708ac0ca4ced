"""Idempotent demo data for `make run`: run it any number of times.

Every later feature extends `build_demo` with its own `ensure_*` step, each of
which looks rows up by a natural key before creating them.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - demo accounts only
STAFF_EMAIL = "staff@example.com"
MEMBER_EMAIL = "member@example.com"


def ensure_user(*, email: str, first_name: str, last_name: str = "", is_staff: bool = False, **extra) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=DEMO_PASSWORD, first_name=first_name, last_name=last_name, **extra
        )
    if is_staff and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


@transaction.atomic
def build_demo() -> list[tuple[str, str]]:
    """Create the demo world; returns the (role, e-mail) logins to print."""
    ensure_user(email=STAFF_EMAIL, first_name="Sam", last_name="Support", is_staff=True)
    ensure_user(email=MEMBER_EMAIL, first_name="Maya", last_name="Member", country="US")
    ensure_coupons()
    return [("staff (admin)", STAFF_EMAIL), ("member", MEMBER_EMAIL)]


def ensure_coupons() -> None:
    """Coupons of every kind for the demo member, and the WELCOME10 promo code."""
    from coupons.demo import ensure_demo_coupons

    ensure_demo_coupons(User.objects.get(email=MEMBER_EMAIL))


class Command(BaseCommand):
    help = "Create or refresh the demo data (idempotent)."

    def handle(self, *args, **options):
        logins = build_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password: {DEMO_PASSWORD}):"))
        for role, email in logins:
            self.stdout.write(f"  {role:<16} {email}")
