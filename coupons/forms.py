"""Forms of the coupon pages and the staff admin."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from coupons.models import Campaign, CouponKind
from orders.models import Store


class CalculatorForm(forms.Form):
    """Which of the member's usable coupons the savings calculator adds up (GET; none picked = all)."""

    pick = forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, coupon_ids: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pick"].choices = [(pk, str(pk)) for pk in coupon_ids]

    def picked(self) -> list[int]:
        """Valid picks only: an unknown or foreign id is dropped, never an error page."""
        if not self.is_bound:
            return []
        if self.is_valid():
            return self.cleaned_data["pick"]
        valid = {pk for pk, _ in self.fields["pick"].choices}
        return [int(p) for p in self.data.getlist("pick") if p.isdigit() and int(p) in valid]


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name",
            "kind",
            "code",
            "store",
            "value",
            "min_spend",
            "currency",
            "valid_days",
            "starts_at",
            "ends_at",
            "usage_limit",
            "per_member_limit",
            "is_active",
        ]

    def clean_code(self) -> str | None:
        code = (self.cleaned_data.get("code") or "").strip().upper()
        if not code:
            return None
        if not code.isalnum():
            raise forms.ValidationError(_("Use letters and digits only."))
        if Campaign.objects.filter(code__iexact=code).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("The code %(code)s is already used by another campaign.") % {"code": code})
        return code

    def clean(self):
        data = super().clean()
        if data.get("kind") == CouponKind.PROMO and not data.get("code"):
            self.add_error("code", _("A promo-code campaign needs a code."))
        if data.get("kind") == CouponKind.STORE and not data.get("store"):
            self.add_error("store", _("A store campaign needs its store."))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The end must be after the start."))
        limit = data.get("usage_limit")
        if limit is not None and self.instance.pk and limit < self.instance.used_count:
            self.add_error(
                "usage_limit",
                _("Already used %(count)s times; the limit can't be lower.") % {"count": self.instance.used_count},
            )
        return data


class IssueCouponForm(forms.Form):
    """Staff: issue one coupon to a member by hand; the reason goes to the ledger with the staff member's name."""

    member_email = forms.EmailField(label=_("Member e-mail"))
    kind = forms.ChoiceField(label=_("Kind"), choices=[c for c in CouponKind.choices if c[0] != CouponKind.PROMO])
    title = forms.CharField(label=_("Title"), max_length=120, required=False)
    value = forms.DecimalField(label=_("Value"), max_digits=10, decimal_places=2, min_value=Decimal("0.01"))
    min_spend = forms.DecimalField(
        label=_("Minimum spend"), max_digits=10, decimal_places=2, min_value=Decimal("0"), initial=Decimal("0")
    )
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="USD")
    valid_days = forms.IntegerField(label=_("Valid for (days)"), min_value=1, max_value=365, initial=30)
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=None, required=False, help_text=_("Required for a store coupon.")
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Written to the ledger."),
    )
    # A fresh token per form: submitting the same form twice issues one coupon.
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.order_by("name")

    def clean_member_email(self):
        email = self.cleaned_data["member_email"].strip().lower()
        member = User.objects.filter(email=email).first()
        if member is None:
            raise forms.ValidationError(_("No member has that e-mail address."))
        self.member = member
        return email

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if len(reason) < 5:
            raise forms.ValidationError(_("Say why (at least a few words): it is kept in the ledger."))
        return reason

    def clean(self):
        data = super().clean()
        if data.get("kind") == CouponKind.STORE and not data.get("store"):
            self.add_error("store", _("A store coupon needs its store."))
        if data.get("kind") != CouponKind.STORE and data.get("store"):
            self.add_error("store", _("Only store coupons belong to a store."))
        return data
