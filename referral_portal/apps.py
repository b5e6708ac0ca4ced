from django.apps import AppConfig


class ReferralPortalConfig(AppConfig):
    name = "referral_portal"
    verbose_name = "Referral Portal"

    def ready(self) -> None:
        # Registers the deploy checks of settings that belong to no single app.
        from referral_portal import checks  # noqa: F401
