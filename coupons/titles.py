"""The titles the portal gives its own coupons, shown in the reader's language (`Coupon.display_title`).

They are stored in English: the fixed ones are found by their text, the generated ones (anniversary, coins
exchange: "Bought with coins") by their source. Titles staff or a seller typed are shown as typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

SYSTEM_TITLES: dict[str, StrOrPromise] = {
    "Referral reward": _("Referral reward"),
    "Welcome coupon": _("Welcome coupon"),
}
# By `CouponSource` value (this module sits below the models, which read it).
GENERATED_TITLES: dict[str, StrOrPromise] = {
    "anniversary": _("Anniversary gift"),
    "coins": _("Bought with coins"),
}


def system_title(*, title: str, source: str) -> str:
    """The portal's own title in the active language, or "" for a title someone typed."""
    system = SYSTEM_TITLES.get(title) or GENERATED_TITLES.get(source)
    return str(system) if system else ""
