from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SupportConfig(AppConfig):
    default = True  # this module also holds PortalAdminConfig, named explicitly in INSTALLED_APPS
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # Imported once the app registry is ready (they use models), for what importing them registers:
        # the ModelAdmins of the support requests and the audit log, and the deploy check for STAFF_REQUIRE_2FA.
        from support.admin import audit as audit_admin  # noqa: F401
        from support.admin import enrolment, requests, second_factor  # noqa: F401


class PortalAdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` whose `admin.site` asks staff for a second factor (support/admin/second_factor.py)."""

    default = False
    default_site = "support.admin.second_factor.PortalAdminSite"
