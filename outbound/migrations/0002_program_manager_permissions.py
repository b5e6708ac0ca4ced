"""Issue 18's staff permissions for the Program manager role (support/migrations/0002_staff_roles.py made the roles):
outbound event endpoints, the delivery log and re-sends; store coupon offers; milestones. Adds, never removes."""

from django.db import migrations

PROGRAM_MANAGER = "Program manager"
GRANTS = [
    ("outbound", "view_endpoint"),
    ("outbound", "add_endpoint"),
    ("outbound", "change_endpoint"),
    ("outbound", "view_delivery"),
    ("outbound", "resend_delivery"),
    ("outbound", "view_deliveryattempt"),
    ("outbound", "view_outboundevent"),
    ("coupons", "view_storeoffer"),
    ("coupons", "add_storeoffer"),
    ("coupons", "change_storeoffer"),
    ("coupons", "view_storeofferclaim"),
    ("orders", "view_storefollow"),
    ("referrals", "view_milestonetier"),
    ("referrals", "add_milestonetier"),
    ("referrals", "change_milestonetier"),
    ("referrals", "view_milestoneaward"),
    ("referrals", "view_quartercreditcounter"),
]


def grant(apps, schema_editor) -> None:
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():  # permissions of fresh models do not exist before post_migrate
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=PROGRAM_MANAGER)
    for app_label, codename in GRANTS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=PROGRAM_MANAGER).first()
    if group is None:
        return
    for app_label, codename in GRANTS:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("outbound", "0001_initial"),
        ("support", "0002_staff_roles"),
        ("coupons", "0007_store_coupons"),
        ("orders", "0004_store_coupons"),
        ("referrals", "0012_milestones"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
