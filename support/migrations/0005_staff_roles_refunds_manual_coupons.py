"""Staff roles gain the powers issue 16 gave a home (README, "Staff roles"):

- refund decisions belong to the support agent (orders.decide_refund), and to no other role;
- program managers see manual coupons waiting for a second staff member and may approve another's
  (coupons.approve_manual_coupon; never their own: coupons.services.manual).
"""

from django.db import migrations

ADDED: dict[str, list[tuple[str, str]]] = {
    "Support agent": [("orders", "decide_refund")],
    "Program manager": [
        ("coupons", "view_manualcouponrequest"),
        ("coupons", "approve_manual_coupon"),
    ],
}


def add_powers(apps, schema_editor) -> None:
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ADDED.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_powers(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ADDED.items():
        group = Group.objects.filter(name=name).first()
        for app_label, codename in wanted:
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if group is not None and permission is not None:
                group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0004_append_only_audit_enrolment_links"),
        ("orders", "0005_refund_decision_permission"),
        ("coupons", "0008_append_only_ledgers_manual_coupon_requests"),
    ]

    operations = [migrations.RunPython(add_powers, remove_powers)]
