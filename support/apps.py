from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support"

    def ready(self) -> None:
        # The audit log's admin lives beside support/admin.py (support requests) to keep them apart.
        from support import admin_audit  # noqa: F401
