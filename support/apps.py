from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SupportConfig(AppConfig):
    default = True  # this module also holds PortalAdminConfig, named explicitly in INSTALLED_APPS
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # The audit log's admin lives beside support/admin.py (support requests) to keep them apart.
        from support import (
            admin_audit,  # noqa: F401
            second_factor,  # noqa: F401 - registers the deploy check for STAFF_REQUIRE_2FA
        )


class PortalAdminConfig(admin_apps.AdminConfig):
    """`django.contrib.admin` whose `admin.site` asks staff for a second factor (support/second_factor.py)."""

    default = False
    default_site = "support.second_factor.PortalAdminSite"
