"""Outgoing SMS for phone verification codes, behind a small pluggable interface.

`settings.SMS_BACKEND` is the dotted path of a `BaseSMSBackend` subclass:

- `accounts.sms.ConsoleSMSBackend` (development default) writes the message to the log;
- `accounts.sms.LocmemSMSBackend` (tests) keeps every message in `LocmemSMSBackend.outbox`.

A production backend (Twilio, Vonage, SNS...) subclasses `BaseSMSBackend` and
implements `send`; nothing else in the portal changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

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
    """Development: the message goes to the log, so `make run` works without a provider."""

    def send(self, phone: str, message: str) -> None:
        logger.info("SMS to %s: %s", phone, message)


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
