"""The invitation behind a link or a typed code, and what the landing and sign-up pages know of a visitor."""

from __future__ import annotations

from accounts.identity import keyed_hash
from accounts.models import AccountDevice
from referrals.codes import looks_valid, normalize_code
from referrals.models import ReferralCode


def usable_code(raw: str) -> ReferralCode | None:
    """The active code of a member who is not flagged, with its member; one query (none for garbage).

    Unknown, disabled and flagged codes all answer None, so callers cannot tell them apart.
    """
    code = normalize_code(raw)
    if not looks_valid(code):
        return None
    return (
        ReferralCode.objects.select_related("user")
        .filter(code=code, is_active=True)
        .exclude(user__status="flagged")
        .first()
    )


def inviter_name(*, typed_code: str = "", attributed_code: str = "") -> str:
    """First name of the member whose invitation a sign-up would use ("" when none): a typed code wins over
    the code of the attribution cookie (`attributed_code`, read by the view)."""
    code = usable_code(typed_code) if typed_code else None
    if code is None and attributed_code:
        code = usable_code(attributed_code)
    return code.user.first_name if code else ""


def device_has_account(*, device_id: str) -> bool:
    """Whether any account was already seen on this browser's device cookie."""
    if not device_id:
        return False
    return AccountDevice.objects.filter(device__id_hash=keyed_hash(device_id, purpose="device")).exists()
