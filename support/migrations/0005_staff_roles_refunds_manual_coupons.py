"""Staff roles gain the powers issue 16 gave a home (README, "Staff roles"):

- refund decisions belong to the support agent (orders.decide_refund), and to no other role;
- program managers see manual coupons waiting for a second staff member and may approve another's
  (coupons.approve_manual_coupon; never their own: coupons.services.manual).
"""

from django.db import migrations

from lib.migration_ops import grant_role_powers, revoke_role_powers

ADDED: dict[str, list[tuple[str, str]]] = {
    "Support agent": [("orders", "decide_refund")],
    "Program manager": [
        ("coupons", "view_manualcouponrequest"),
        ("coupons", "approve_manual_coupon"),
    ],
}


def add_powers(apps, schema_editor) -> None:
    grant_role_powers(apps, ADDED)


def remove_powers(apps, schema_editor) -> None:
    revoke_role_powers(apps, ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0004_append_only_audit_enrolment_links"),
        ("orders", "0005_refund_decision_permission"),
        ("coupons", "0008_append_only_ledgers_manual_coupon_requests"),
    ]

    operations = [migrations.RunPython(add_powers, remove_powers)]
