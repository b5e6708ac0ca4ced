"""Clicks, referral codes (disable / enable, audited), the monthly reward counters and the kept referral counts,
read-only otherwise."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from lib.admin import BigTableAdminMixin, ReadOnlyAdminMixin
from referrals.models import Click, ClickRollup, ClickTally, MonthlyRewardCounter, ReferralCode, ReferralTally
from referrals.services.staff import set_code_active
from support.admin.staff_actions import ActionRefused, ReasonForm, run_staff_action


@admin.register(Click)
class ClickAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "referral_code", "channel", "clicked_at", "ip_country", "device"]
    list_filter = ["channel", "clicked_at"]
    list_select_related = ["referral_code", "device"]
    search_fields = ["referral_code__code", "ip_hash"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Click._meta.fields]


@admin.register(ClickTally)
class ClickTallyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Clicks counted per code and channel: every click before the roll-up's watermark (`ClickRollupAdmin`), whether
    its raw row is still listed under Clicks or was deleted by the retention job; the funnel adds the raw clicks
    from the watermark on."""

    list_display = ["referral_code", "channel", "clicks", "updated_at"]
    list_filter = ["channel"]
    list_select_related = ["referral_code"]
    search_fields = ["referral_code__code"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ClickTally._meta.fields]


@admin.register(ReferralTally)
class ReferralTallyAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A referrer's kept referral counts (Invite Friends sums these rows per channel and state): compacted rows
    and the triggers' deltas not folded yet (docs/performance.md, "Kept referral counts")."""

    list_display = ["referrer", "channel", "state", "n", "ordered", "already", "is_delta"]
    list_filter = ["is_delta", "channel", "state"]
    list_select_related = ["referrer"]
    search_fields = ["=referrer__id", "=referrer__email"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ReferralTally._meta.fields]


@admin.register(ClickRollup)
class ClickRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The click roll-up's watermark, read-only: click tallies hold every click dated before it."""

    list_display = ["counted_before", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ClickRollup._meta.fields]


class SetCodeForm(ReasonForm):
    pass


@admin.register(ReferralCode)
class ReferralCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["code", "user", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["user"]
    search_fields = ["code", "user__email"]
    actions = ["disable_codes", "enable_codes"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ReferralCode._meta.fields]

    def has_toggle_permission(self, request) -> bool:
        return request.user.has_perm("referrals.change_referralcode")

    def _toggle(self, request, queryset, *, is_active: bool):
        def perform(code, data):
            if not set_code_active(code=code, is_active=is_active):
                raise ActionRefused(f"already {'enabled' if is_active else 'disabled'}")
            return {"is_active": is_active}

        verb = "enable" if is_active else "disable"
        return run_staff_action(
            self,
            request,
            queryset,
            action=f"referral_code.{verb}",
            title=_("Enable referral codes") if is_active else _("Disable referral codes"),
            intro=(
                _("A disabled code still lands on the normal sign-up page but refers no one.")
                if not is_active
                else _("The code refers friends again from now on.")
            ),
            perform=perform,
            form_class=SetCodeForm,
            submit_label=_("Enable") if is_active else _("Disable"),
            done_message=(
                ngettext_lazy("%(count)s code enabled.", "%(count)s codes enabled.", "count")
                if is_active
                else ngettext_lazy("%(count)s code disabled.", "%(count)s codes disabled.", "count")
            ),
        )

    @admin.action(permissions=["toggle"], description=_("Disable code…"))
    def disable_codes(self, request, queryset):
        return self._toggle(request, queryset, is_active=False)

    @admin.action(permissions=["toggle"], description=_("Enable code…"))
    def enable_codes(self, request, queryset):
        return self._toggle(request, queryset, is_active=True)


@admin.register(MonthlyRewardCounter)
class MonthlyRewardCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["referrer", "month", "count"]
    list_select_related = ["referrer"]
    search_fields = ["referrer__email"]
    date_hierarchy = "month"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in MonthlyRewardCounter._meta.fields]
