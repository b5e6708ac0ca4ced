from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django_countries.fields import CountryField

from accounts.models import User


class SignupForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False)
    country = CountryField(blank_label="(select country)").formfield()
    referral_code = forms.CharField(label="Invitation code (optional)", required=False, max_length=32)

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "country"]
        widgets = {"email": forms.EmailInput(attrs={"autocomplete": "email"})}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail already exists. Log in instead.")
        return email

    def clean_referral_code(self) -> str:
        from referrals.codes import normalize_code
        from referrals.selectors import usable_code

        raw = self.cleaned_data.get("referral_code", "")
        if not raw.strip():
            return ""
        # Unknown, disabled and flagged codes get the same message: nothing to enumerate.
        if usable_code(raw) is None:
            raise forms.ValidationError("We don't recognise this invitation code.")
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
