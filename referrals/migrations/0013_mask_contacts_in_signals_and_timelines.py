"""Signals and timelines keep keyed hashes and masked forms of e-mail addresses and phones, never the clear value
(docs/program-rules.md section 6): rewrite the rows written before.

In signals every account's `email_normalized` / `phone` become `email_hash` + `email_masked` / `phone_hash` +
`phone_masked` (as `referrals.eligibility.contact_signals` writes them now); in timeline notes every e-mail address
and phone number is masked. Not reversible: the clear values are gone, which is the point.
"""

from django.db import migrations

from accounts.identity import keyed_hash
from lib.masking import mask_email, mask_phone, redact_contacts


def _contact_fields(email: str, phone: str) -> dict[str, str]:
    return {
        "email_hash": keyed_hash(email, purpose="email")[:16] if email else "",
        "email_masked": mask_email(email) if email else "",
        "phone_hash": keyed_hash(phone, purpose="phone")[:16] if phone else "",
        "phone_masked": mask_phone(phone) if phone else "",
    }


def scrub(value):
    """The JSON value with every clear e-mail or phone replaced; (new value, changed)."""
    if isinstance(value, list):
        items = [scrub(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if not isinstance(value, dict):
        return value, False
    changed = False
    result = {}
    for key, item in value.items():
        result[key], item_changed = scrub(item)
        changed |= item_changed
    if isinstance(result.get("email_normalized"), str) or isinstance(result.get("phone"), str):
        email = result.pop("email_normalized", "") or ""
        phone = result.pop("phone", "") or ""
        result.update(_contact_fields(str(email), str(phone)))
        changed = True
    for key in ("email", "friend_email", "referrer_email"):
        if isinstance(result.get(key), str) and "@" in result[key]:
            result[key] = mask_email(result[key])
            changed = True
    return result, changed


def forward(apps, schema_editor) -> None:
    Referral = apps.get_model("referrals", "Referral")
    ReferralEvent = apps.get_model("referrals", "ReferralEvent")
    for referral in Referral.objects.exclude(signals={}).only("pk", "signals").iterator(chunk_size=500):
        signals, changed = scrub(referral.signals)
        if changed:
            Referral.objects.filter(pk=referral.pk).update(signals=signals)
    for event in ReferralEvent.objects.exclude(note="").only("pk", "note").iterator(chunk_size=500):
        note = redact_contacts(event.note)[:500]
        if note != event.note:
            ReferralEvent.objects.filter(pk=event.pk).update(note=note)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0012_milestones")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
