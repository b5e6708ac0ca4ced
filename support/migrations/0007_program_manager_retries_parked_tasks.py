"""Parked tasks (ops.TaskDelivery, issue 19) belong to a staff role: the program manager, who answers for crediting
(most parked tasks are credit tasks: README, "Staff roles"), sees task deliveries, the outbox and the job runs, and
retries a parked task by hand (`ops.retry_parked_task`, through the audited staff action). No other role does.
"""

from django.db import migrations

from lib.migration_ops import grant_role_powers, revoke_role_powers

ADDED: dict[str, list[tuple[str, str]]] = {
    "Program manager": [
        ("ops", "view_taskdelivery"),
        ("ops", "retry_parked_task"),
        ("ops", "view_outboxmessage"),
        ("ops", "view_jobrun"),
    ],
}


def add_powers(apps, schema_editor) -> None:
    grant_role_powers(apps, ADDED)


def remove_powers(apps, schema_editor) -> None:
    revoke_role_powers(apps, ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0006_appeal_kind"),
        ("ops", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_powers, remove_powers)]
