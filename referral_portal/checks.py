"""`manage.py check --deploy` for settings that would be unsafe in production (README, "Security")."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# Backends that never reach a phone: the console writes to the process's output, locmem keeps messages in memory.
NON_DELIVERING_SMS_BACKENDS = {
    "accounts.sms.ConsoleSMSBackend",
    "accounts.sms.LocmemSMSBackend",
    "accounts.sms.FileSMSBackend",
}


@checks.register(checks.Tags.security, deploy=True)
def check_shop_simulation(app_configs, **kwargs):
    """The demo shop's seller controls let a member mark their own order paid and shipped."""
    if not settings.SHOP_SIMULATION:
        return []
    return [
        checks.Warning(
            "SHOP_SIMULATION is on: members can mark their own orders paid and shipped.",
            hint="Unset SHOP_SIMULATION (it is off whenever DEBUG is off) or set it to 0.",
            id="portal.W002",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_sms_backend(app_configs, **kwargs):
    """With DEBUG off, phone codes must go to a real SMS provider, never to a log, a file or memory."""
    if settings.DEBUG:
        return []
    if settings.SMS_BACKEND == "accounts.sms.HTTPSMSBackend" and not settings.SMS_API_URL.startswith("https://"):
        return [
            checks.Error(
                "SMS_API_URL is not an https:// URL: phone codes cannot be sent.",
                hint="Set SMS_API_URL (and SMS_API_TOKEN) to your SMS provider's endpoint.",
                id="portal.E004",
            )
        ]
    if settings.SMS_BACKEND not in NON_DELIVERING_SMS_BACKENDS:
        return []
    return [
        checks.Error(
            f"SMS_BACKEND is {settings.SMS_BACKEND} with DEBUG off: phone codes never reach a phone.",
            hint="Set SMS_BACKEND to your provider's backend (a subclass of accounts.sms.BaseSMSBackend).",
            id="portal.E003",
        )
    ]
