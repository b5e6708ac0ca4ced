"""Masked forms of e-mail addresses and phone numbers, and redaction of free text that may contain them.

Stored signals and timelines keep a keyed hash (to match rows) and a masked form (for a person to recognise),
never the clear value (docs/program-rules.md section 6). The hash is the caller's: `accounts.identity.keyed_hash`.
"""

from __future__ import annotations

import re

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# E.164 numbers (and the same digits written with spaces or dashes) of 8 to 15 digits after a plus sign.
PHONE_PATTERN = re.compile(r"\+\d(?:[ -]?\d){7,14}")


def mask_email(email: str) -> str:
    """ "jordan.smith@example.com" → "j•••@e•••.com"."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "•" * min(len(local), 3)
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}•••.{tld}" if dot else f"{domain[:1]}•••"
    return f"{local[:1]}•••@{masked_domain}"


def mask_phone(phone: str) -> str:
    """ "+14155550123" → "+1415•••••23": enough for a person to recognise their number, not to dial it."""
    phone = phone or ""
    return phone[:5] + "•" * max(len(phone) - 7, 0) + phone[-2:] if len(phone) > 7 else "•" * len(phone)


def redact_contacts(text: str) -> str:
    """`text` with every e-mail address and phone number in it masked."""
    text = EMAIL_PATTERN.sub(lambda m: mask_email(m.group(0)), text or "")
    return PHONE_PATTERN.sub(lambda m: mask_phone(re.sub(r"[ -]", "", m.group(0))), text)
