"""Test card labels and the card an order keeps: only an opaque fingerprint, never a card number."""

from __future__ import annotations

import re
from datetime import datetime

from django.utils.translation import gettext as _

from accounts.identity import keyed_hash
from accounts.models import User
from orders.errors import InvalidOrder
from orders.models import PaymentCard

_CARD_LABEL = re.compile(r"^[A-Za-z][A-Za-z .-]{0,29} \d{4}$")


def normalize_card_label(label: str) -> str:
    """'  visa   4242 ' -> 'Visa 4242'; refuses anything that looks like a card number."""
    cleaned = " ".join((label or "").split())
    if re.search(r"\d{5,}", cleaned.replace(" ", "")) or not _CARD_LABEL.match(cleaned):
        raise InvalidOrder(
            _("Enter a test card label such as 'Visa 4242' (a brand and 4 digits) - never a real card number."),
            code="INVALID_CARD_LABEL",
        )
    brand, digits = cleaned.rsplit(" ", 1)
    return f"{brand.title()} {digits}"


def label_fingerprint(label: str) -> str:
    """The opaque fingerprint the demo payment provider gives a normalised test card label."""
    return keyed_hash(label.lower(), purpose="card")


def suggested_card_label(*, member: User) -> str:
    """The checkout's pre-filled test card: one of the member's own (demo).

    The same label on two accounts is the same card, and a friend's first order paid
    with a card another account used first does not count (docs/program-rules.md section 2):
    a shared default such as "Visa 4242" would void every demo friend's referral.
    """
    return f"Visa {(4242 + (member.pk or 0)) % 10000:04d}"


def card_for(*, member: User, fingerprint: str, label: str, at: datetime) -> PaymentCard:
    """The member's card with this fingerprint, recorded on first use."""
    card, _ = PaymentCard.objects.get_or_create(
        user=member, fingerprint=fingerprint, defaults={"label": label[:40], "first_used_at": at}
    )
    return card
