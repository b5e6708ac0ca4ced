from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import is_currency
from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.forms.utils import ErrorDict
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from accounts.identity import InvalidPhoneNumber, normalize_phone
from accounts.locales import as_member
from accounts.models import Level, LevelCode, Region, User
from lib import widgets
from referrals.codes import normalize_code
from referrals.selectors.links import usable_code

# SHA-256 hex from static/js/fingerprint.js; anything else is ignored (a soft signal, never an error).
_FINGERPRINT_RE = re.compile(r"^[0-9a-f]{64}$")


class FingerprintField(forms.CharField):
    """Hidden field filled by fingerprint.js; cleans to "" unless it is a SHA-256 hex digest."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 128)
        super().__init__(**kwargs)

    def clean(self, value):
        value = (value or "").strip().lower()
        return value if _FINGERPRINT_RE.match(value) else ""


def valid_time_zone(name: str) -> str:
    name = (name or "").strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise forms.ValidationError(
            _("“%(name)s” is not a time zone we know, e.g. Europe/Berlin.") % {"name": name}
        ) from error
    return name


def valid_currency(code: str) -> str:
    code = (code or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or not is_currency(code):
        raise forms.ValidationError(_("“%(code)s” is not an ISO 4217 currency code, e.g. USD or EUR.") % {"code": code})
    return code


@lru_cache(maxsize=1)
def _time_zone_choices() -> list[tuple[str, str]]:
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n or n == "UTC")
    return [(name, name.replace("_", " ")) for name in names]


def _country_select(field: forms.Field) -> None:
    """django-countries picks its own widget: its 250 countries are rendered in Python too (lib.widgets)."""
    field.widget = widgets.Select(attrs=field.widget.attrs)
    field.widget.choices = field.choices


class SignupForm(forms.ModelForm):
    """New member. Other parts may add optional fields (e.g. a referral code) to a subclass or here."""

    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        help_text=password_validation.password_validators_help_text_html(),
        label=_("Password"),
    )
    country = CountryField(blank_label=_("(select country)")).formfield(label=_("Country"))
    fingerprint = FingerprintField()
    referral_code = forms.CharField(label=_("Invitation code (optional)"), required=False, max_length=32)

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "country"]
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _country_select(self.fields["country"])

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(_("An account with this e-mail already exists. Log in instead."))
        return email

    def clean_referral_code(self) -> str:
        raw = self.cleaned_data.get("referral_code", "")
        if not raw.strip():
            return ""
        # Unknown, disabled and flagged codes get the same message: nothing to enumerate.
        if usable_code(raw) is None:
            raise forms.ValidationError(_("We don't recognise this invitation code."))
        return normalize_code(raw)

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email", ""), first_name=cleaned.get("first_name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned

    def refuse(self, message: str) -> None:
        """Mark the submission refused with only `message`, without validating a field.

        Validation would answer whether the e-mail has an account and whether the typed
        invitation code exists: exactly what a refused (rate-limited) attempt must not learn.
        """
        self._errors = ErrorDict()
        self.cleaned_data = {}
        self.add_error(None, message)


class LoginForm(AuthenticationForm):
    """Django's login form; the e-mail is matched case-insensitively and the fingerprint rides along."""

    fingerprint = FingerprintField()

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "That e-mail address and password do not match an account. Note that the password is case-sensitive."
        ),
    }

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("E-mail address")
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean_username(self) -> str:
        return (self.cleaned_data.get("username") or "").strip().lower()


class MemberPasswordResetForm(PasswordResetForm):
    """Django's reset form; the e-mail is in the account's language, not that of whoever asks for it."""

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs) -> None:
        with as_member(context["user"]):
            super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


class ProfileForm(forms.ModelForm):
    # Each language in its own name, so a member finds theirs whatever the page's language.
    language = forms.ChoiceField(choices=settings.LANGUAGES, label=_("Language"), widget=widgets.Select)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=(),
        help_text=_("Dates and times are shown in this time zone."),
        widget=widgets.Select,  # about 600 zones: a template per option would cost more than the rest of the page
    )

    class Meta:
        model = User
        fields = ["first_name", "last_name", "country", "language", "time_zone"]
        labels = {"country": _("Country")}
        help_texts = {"country": _("Amounts are in your country's currency, formatted for your language.")}
        widgets = {
            "first_name": forms.TextInput(attrs={"autocomplete": "given-name"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "family-name"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _time_zone_choices()
        _country_select(self.fields["country"])

    def clean_time_zone(self) -> str:
        return valid_time_zone(self.cleaned_data.get("time_zone", ""))


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
        help_text=_("With the country code (e.g. +1 415 555 0123), or a national number of your account’s country."),
    )

    def __init__(self, *args, default_region: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.default_region = default_region

    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data["phone"], default_region=self.default_region)
        except InvalidPhoneNumber as error:
            raise forms.ValidationError(
                _("This is not a valid phone number. Include the country code, e.g. +1 415 555 0123.")
            ) from error


class PhoneCodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*", "size": 8}
        ),
    )

    def clean_code(self) -> str:
        code = re.sub(r"\s+", "", self.cleaned_data["code"])
        if not re.fullmatch(r"\d{6}", code):
            raise forms.ValidationError(_("Enter the 6 digits from the text message."))
        return code


class RegionAdminForm(forms.ModelForm):
    """Validates what staff type for a region: currency, time zone and the welcome package."""

    class Meta:
        model = Region
        fields = [
            "country",
            "name",
            "is_default",
            "is_in_program",
            "currency",
            "reward_amount",
            "reward_min_spend",
            "monthly_limit",
            "coupon_valid_days",
            "welcome_package",
            "time_zone",
            "locale",
            "manual_coupon_ceiling",
            "manual_coupon_approval_above",
        ]
        help_texts = {
            "welcome_package": _(
                'A list of coupons, e.g. [{"value": "4.00", "min_spend": "5.00"}]. '
                "Values and minimum spends are positive amounts in the region’s currency."
            ),
        }

    def clean_currency(self) -> str:
        return valid_currency(self.cleaned_data.get("currency", ""))

    def clean_time_zone(self) -> str:
        return valid_time_zone(self.cleaned_data.get("time_zone", ""))

    def clean_welcome_package(self) -> list[dict[str, str]]:
        package = self.cleaned_data.get("welcome_package")
        if package in (None, ""):
            return []
        if not isinstance(package, list):
            raise forms.ValidationError(_('Enter a list, e.g. [{"value": "4.00", "min_spend": "5.00"}].'))
        cleaned: list[dict[str, str]] = []
        for number, item in enumerate(package, start=1):
            if not isinstance(item, dict) or set(item) != {"value", "min_spend"}:
                raise forms.ValidationError(
                    _("Coupon %(number)s: give exactly “value” and “min_spend”.") % {"number": number}
                )
            amounts = {}
            for key in ("value", "min_spend"):
                try:
                    amount = Decimal(str(item[key]))
                except (InvalidOperation, ValueError) as error:
                    raise forms.ValidationError(
                        _("Coupon %(number)s: %(field)s “%(value)s” is not an amount.")
                        % {"number": number, "field": key, "value": item[key]}
                    ) from error
                if not amount.is_finite() or amount <= 0:
                    raise forms.ValidationError(
                        _("Coupon %(number)s: %(field)s must be a positive amount.") % {"number": number, "field": key}
                    )
                if amount.as_tuple().exponent < -2:
                    raise forms.ValidationError(
                        _("Coupon %(number)s: %(field)s has more than two decimal places.")
                        % {"number": number, "field": key}
                    )
                amounts[key] = amount.quantize(Decimal("0.01"))
            if amounts["value"] > amounts["min_spend"]:
                raise forms.ValidationError(
                    _("Coupon %(number)s: the value cannot exceed the minimum spend.") % {"number": number}
                )
            cleaned.append({k: str(v) for k, v in amounts.items()})
        return cleaned


# --- Levels ------------------------------------------------------------------------------


class LevelAdminForm(forms.ModelForm):
    """Thresholds must keep the levels in order: Silver 0 < Gold < Platinum < Diamond."""

    class Meta:
        model = Level
        fields = [
            "code",
            "min_points",
            "anniversary_coupon_value",
            "anniversary_coupon_min_spend",
            "fast_refund_limit",
            "support_priority",
        ]

    def clean(self):
        cleaned = super().clean()
        code = self.instance.code or cleaned.get("code")
        points = cleaned.get("min_points")
        if code is None or points is None:
            return cleaned
        if code == LevelCode.SILVER and points != 0:
            self.add_error("min_points", _("Silver is where every member starts: its threshold is 0 points."))
            return cleaned
        ranks = {value: rank for rank, value in enumerate(LevelCode.values)}
        others = {level.code: level.min_points for level in Level.objects.exclude(code=code)}
        for other, other_points in others.items():
            lower = ranks[other] < ranks[code]
            if (lower and other_points >= points) or (not lower and other_points <= points):
                message = (
                    _("Must be above %(level)s's threshold (%(points)s points): levels keep their order.")
                    if lower
                    else _("Must be below %(level)s's threshold (%(points)s points): levels keep their order.")
                )
                self.add_error("min_points", message % {"level": LevelCode(other).label, "points": other_points})
                break
        value, min_spend = cleaned.get("anniversary_coupon_value"), cleaned.get("anniversary_coupon_min_spend")
        if value is not None and value < 0:
            self.add_error("anniversary_coupon_value", _("Enter 0 (no coupon) or a positive amount."))
        if value and min_spend is not None and min_spend < value:
            self.add_error("anniversary_coupon_min_spend", _("The minimum spend can't be below the coupon's value."))
        limit = cleaned.get("fast_refund_limit")
        if limit is not None and limit <= 0:
            self.add_error("fast_refund_limit", _("Leave empty for no fast refunds, or enter a positive amount."))
        return cleaned
