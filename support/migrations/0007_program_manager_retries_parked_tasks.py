"""Parked tasks (ops.TaskDelivery, issue 19) belong to a staff role: the program manager, who answers for crediting
(most parked tasks are credit tasks: README, "Staff roles"), sees task deliveries, the outbox and the job runs, and
retries a parked task by hand (`ops.retry_parked_task`, through the audited staff action). No other role does.
"""

from django.db import migrations

ADDED: dict[str, list[tuple[str, str]]] = {
    "Program manager": [
        ("ops", "view_taskdelivery"),
        ("ops", "retry_parked_task"),
        ("ops", "view_outboxmessage"),
        ("ops", "view_jobrun"),
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
        ("support", "0006_appeal_kind"),
        ("ops", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_powers, remove_powers)]
