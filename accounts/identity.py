"""Identity signals as plain functions: keyed hashes, e-mail canonical form, IP country.

Nothing here touches the database, so the rules that use these are testable
without one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings

from lib.errors import DomainError

# Providers that ignore dots in the local part and treat +tags as the same box.
_DOT_INSENSITIVE = {"gmail.com", "googlemail.com"}
_PLUS_TAG_PROVIDERS = _DOT_INSENSITIVE | {
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "me.com",
    "fastmail.com",
    "proton.me",
    "protonmail.com",
    "yahoo.com",
}
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def normalize_email(email: str) -> str:
    """Canonical mailbox: lower case; dots and +tags dropped where the provider ignores them."""
    email = (email or "").strip().lower()
    local, sep, domain = email.rpartition("@")
    if not sep:
        return email
    domain = _DOMAIN_ALIASES.get(domain, domain)
    if domain in _PLUS_TAG_PROVIDERS:
        local = local.split("+", 1)[0]
    if domain in _DOT_INSENSITIVE:
        local = local.replace(".", "")
    return f"{local}@{domain}"


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of `value` under the signal key, separated per purpose ("ip", "device")."""
    key = f"{settings.SIGNAL_HASH_KEY}:{purpose}".encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=1)
def _geoip():
    # Third-party modules this file needs are imported on first use (geoip2fast ~50 ms, phonenumbers ~25 ms):
    # accounts.models imports this module, and processes that never read an IP or a phone (migrations, most
    # management commands, workers) should not pay for them.
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(verbose=False)


def ip_country(ip: str) -> str:
    """ISO country of a public IP from the bundled offline database; "" when unknown or private."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if not address.is_global:
        return ""
    code = _geoip().lookup(str(address)).country_code
    return code if code and len(code) == 2 and code.isalpha() else ""


class InvalidPhoneNumber(DomainError):
    """The text is not a valid, dialable phone number."""

    code = "INVALID_PHONE"


def normalize_phone(raw: str, *, default_region: str = "") -> str:
    """E.164 form of a phone number (national numbers read in `default_region`); raises InvalidPhoneNumber."""
    import phonenumbers  # on first use, see _geoip

    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("empty")
    try:
        number = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(str(error)) from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_country(phone: str) -> str:
    """ISO country of an E.164 phone number; "" when it cannot be read."""
    import phonenumbers  # on first use, see _geoip

    if not phone:
        return ""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or ""
    except phonenumbers.NumberParseException:
        return ""
