"""What-if runs (referrals.WhatIfRun) in the staff roles: program managers run them, fraud analysts read them."""

from django.db import migrations

GRANTS = {
    "Program manager": [("referrals", "view_whatifrun"), ("referrals", "run_what_if")],
    "Fraud analyst": [("referrals", "view_whatifrun")],
}


def grant(apps, schema_editor=None) -> None:
    from django.contrib.auth.management import create_permissions

    # The new model's permissions do not exist before post_migrate: create them now (idempotent).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for app_label, codename in wanted:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for app_label, codename in wanted:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0002_staff_roles"),
        ("referrals", "0009_what_if_run"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
