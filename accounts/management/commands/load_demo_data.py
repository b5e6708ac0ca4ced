"""Idempotent demo data for `make run`: run it any number of times.

Every later feature extends `build_demo` with its own `ensure_*` step, each of
which looks rows up by a natural key before creating them.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.demo import ensure_level_orders, ensure_rewards_demo
from accounts.models import AccountStatus, StatusReason, User
from accounts.services import flag_account
from coupons.demo import ensure_demo_coupons
from orders.demo import ensure_demo_orders
from referrals.demo import ensure_demo_clicks, ensure_demo_referral_states, ensure_demo_referrals

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - demo accounts only
STAFF_EMAIL = "staff@example.com"
MEMBER_EMAIL = "member@example.com"
FLAGGED_EMAIL = "flagged@example.com"
MEMBER_PHONE = "+14155550123"  # a valid US number reserved for fiction (555-01xx)
# (role, e-mail) of the demo logins `make run` prints (here and again by `announce_ready` once all is up).
DEMO_LOGINS = [("staff (admin)", STAFF_EMAIL), ("member", MEMBER_EMAIL), ("flagged member", FLAGGED_EMAIL)]


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


def ensure_member_identity(*, user: User, phone: str, country: str) -> User:
    """The member's verified phone and country (e-mail confirmed too), set once."""
    now = timezone.now()
    changed = []
    if str(user.country) != country:
        user.country = country
        changed.append("country")
    if user.phone != phone or user.phone_verified_at is None:
        user.phone, user.phone_verified_at = phone, user.phone_verified_at or now
        changed += ["phone", "phone_verified_at"]
    if user.email_verified_at is None:
        user.email_verified_at = now
        changed.append("email_verified_at")
    if changed:
        user.save(update_fields=changed)
    return user


def ensure_flagged(*, user: User) -> User:
    """A flagged demo member, flagged through the service (so status_changed_at is set)."""
    if user.status != AccountStatus.FLAGGED:
        flag_account(member=user, reason_code=StatusReason.DEVICE_RING)
    return user


@transaction.atomic
def build_demo() -> list[tuple[str, str]]:
    """Create the demo world; returns the (role, e-mail) logins to print."""
    ensure_user(email=STAFF_EMAIL, first_name="Sam", last_name="Support", is_staff=True)
    member = ensure_user(email=MEMBER_EMAIL, first_name="Maya", last_name="Member", country="US")
    ensure_member_identity(user=member, phone=MEMBER_PHONE, country="US")
    flagged = ensure_user(email=FLAGGED_EMAIL, first_name="Fred", last_name="Flagged", country="US")
    ensure_flagged(user=flagged)
    # The member's biggest orders first: the level then changes once (silver → gold), never back and forth.
    ensure_level_orders(member=member)
    ensure_demo_orders(buyer=member)
    ensure_demo_referrals(member=member, make_user=ensure_user)
    ensure_demo_coupons(member)
    ensure_demo_clicks(member=member)
    ensure_demo_referral_states(member=member, make_user=ensure_user)
    ensure_rewards_demo(member=member)
    return DEMO_LOGINS


class Command(BaseCommand):
    help = "Create or refresh the demo data (idempotent)."

    def handle(self, *args, **options):
        logins = build_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password: {DEMO_PASSWORD}):"))
        for role, email in logins:
            self.stdout.write(f"  {role:<16} {email}")
