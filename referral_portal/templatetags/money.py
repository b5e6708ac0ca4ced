"""`{{ amount|money:currency }}`: the template face of lib.money.format_money."""

from __future__ import annotations

from django import template

from lib.money import format_money

register = template.Library()


@register.filter(name="money")
def money(amount, currency: str = "USD") -> str:
    return format_money(amount, currency)
