"""Outgoing SMS for phone verification codes, behind a small pluggable interface.

`settings.SMS_BACKEND` is the dotted path of a `BaseSMSBackend` subclass:

- `accounts.sms.HTTPSMSBackend` (production) posts the message to the provider's HTTPS endpoint (`SMS_API_URL`,
  bearer `SMS_API_TOKEN`);
- `accounts.sms.FileSMSBackend` (development default, `make run`) appends each message to `var/sms-outbox.txt`;
- `accounts.sms.ConsoleSMSBackend` logs that a text was sent, to a masked number, without its body;
- `accounts.sms.LocmemSMSBackend` (tests) keeps every message in `LocmemSMSBackend.outbox`.

No backend writes a message body (it holds a one-time code) to the log; with DEBUG off, `check --deploy` fails on
every backend but the HTTP one (referral_portal/checks.py). Another provider subclasses `BaseSMSBackend` and
implements `send`; nothing else in the portal changes.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from lib.masking import mask_phone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SMSMessage:
    phone: str
    message: str


class SMSDeliveryError(Exception):
    """The provider refused or could not take the message; the caller shows a retry message."""


class BaseSMSBackend:
    """Contract of an SMS backend.

    `send(phone, message)` delivers one text message to `phone`, an E.164
    number such as "+14155550123". It returns when the provider has accepted
    the message, and raises `SMSDeliveryError` when it has not. It must not
    log the message body in production backends (it holds a one-time code).
    """

    def send(self, phone: str, message: str) -> None:
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    """A log line per text, with the number masked and never the body (it holds a code)."""

    def send(self, phone: str, message: str) -> None:
        logger.info("SMS of %d characters to %s (body not logged)", len(message), mask_phone(phone))


class FileSMSBackend(BaseSMSBackend):
    """Development (`make run`): each text is appended to `var/sms-outbox.txt` to read the code there."""

    def send(self, phone: str, message: str) -> None:
        path = Path(settings.VAR_DIR) / "sms-outbox.txt"
        with path.open("a", encoding="utf-8") as outbox:
            outbox.write(f"{timezone.now().isoformat()} to {phone}: {message}\n")
        logger.info("SMS to %s written to %s (body not logged)", mask_phone(phone), path.name)


class HTTPSMSBackend(BaseSMSBackend):
    """Production: POST {"to", "text"} as JSON to `SMS_API_URL` with `Authorization: Bearer SMS_API_TOKEN`;
    any answer but 2xx, or no answer within `SMS_API_TIMEOUT` seconds, is a delivery error."""

    def send(self, phone: str, message: str) -> None:
        url = settings.SMS_API_URL
        if not url.startswith("https://"):
            raise SMSDeliveryError("SMS_API_URL must be an https:// URL.")
        request = urllib.request.Request(  # noqa: S310 - https only, checked above
            url,
            data=json.dumps({"to": phone, "text": message}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {settings.SMS_API_TOKEN}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.SMS_API_TIMEOUT) as response:  # noqa: S310
                status = response.status
        except (OSError, ValueError) as error:
            logger.warning("SMS provider unreachable for %s: %s", mask_phone(phone), error.__class__.__name__)
            raise SMSDeliveryError("The SMS provider did not answer.") from error
        if not 200 <= status < 300:
            raise SMSDeliveryError(f"The SMS provider answered {status}.")


class LocmemSMSBackend(BaseSMSBackend):
    """Tests: messages are kept in the class-level `outbox` list (clear it between tests)."""

    outbox: list[SMSMessage] = []

    def send(self, phone: str, message: str) -> None:
        LocmemSMSBackend.outbox.append(SMSMessage(phone=phone, message=message))


def get_sms_backend() -> BaseSMSBackend:
    """An instance of the backend named by settings.SMS_BACKEND."""
    return import_string(settings.SMS_BACKEND)()


def send_sms(*, phone: str, message: str) -> None:
    get_sms_backend().send(phone, message)
