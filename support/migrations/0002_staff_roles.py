"""Staff roles as Groups with least privilege (docs/program-rules.md G5, docs/program-rules.md section 10).

Runs on an empty database too: Django creates permissions only after all
migrations (post_migrate), so `create_staff_roles` creates the missing ones
first. Re-running it brings the groups back to exactly these permissions.
"""

from django.db import migrations

# (app_label, codename) per role. Staff users also need is_staff to reach the admin.
STAFF_ROLES: dict[str, list[tuple[str, str]]] = {
    "Support agent": [
        ("accounts", "view_user"),
        ("accounts", "view_notification"),
        ("accounts", "resend_notice"),
        ("referrals", "view_referral"),
        ("referrals", "view_referralcode"),
        ("referrals", "view_monthlyrewardcounter"),
        ("coupons", "view_coupon"),
        ("coupons", "view_ledgerentry"),
        ("coupons", "view_campaign"),
        ("orders", "view_order"),
        ("orders", "view_store"),
        ("orders", "view_product"),
        ("support", "view_supportrequest"),
        ("support", "change_supportrequest"),
    ],
    "Fraud analyst": [
        ("accounts", "view_user"),
        ("accounts", "flag_member"),
        ("accounts", "void_coupon"),
        ("accounts", "view_device"),
        ("accounts", "view_accountdevice"),
        ("accounts", "view_ipsighting"),
        ("orders", "view_paymentcard"),
        ("orders", "view_order"),
        ("referrals", "view_referral"),
        ("referrals", "view_referralreview"),
        ("referrals", "review_referral"),
        ("referrals", "rerun_eligibility"),
        ("referrals", "export_referrals"),
        ("referrals", "view_referralcode"),
        ("referrals", "change_referralcode"),
        ("referrals", "view_click"),
        ("referrals", "view_monthlyrewardcounter"),
        ("coupons", "view_coupon"),
        ("coupons", "view_ledgerentry"),
        ("support", "view_auditlog"),
    ],
    "Program manager": [
        ("accounts", "view_user"),
        ("accounts", "void_coupon"),
        ("accounts", "view_region"),
        ("accounts", "add_region"),
        ("accounts", "change_region"),
        ("referrals", "view_referral"),
        ("referrals", "credit_referral_manually"),
        ("referrals", "export_referrals"),
        ("referrals", "view_referralcode"),
        ("referrals", "change_referralcode"),
        ("referrals", "view_monthlyrewardcounter"),
        ("coupons", "view_campaign"),
        ("coupons", "add_campaign"),
        ("coupons", "change_campaign"),
        ("coupons", "view_coupon"),
        ("coupons", "add_coupon"),
        ("coupons", "view_ledgerentry"),
        ("orders", "view_order"),
        ("support", "view_auditlog"),
    ],
}


def create_staff_roles(apps, schema_editor=None) -> None:
    from django.contrib.auth.management import create_permissions

    # Permissions of freshly migrated apps do not exist yet: create them now (idempotent).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in STAFF_ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = []
        for app_label, codename in wanted:
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is None:
                raise LookupError(f"staff role {name!r}: no permission {app_label}.{codename}")
            permissions.append(permission)
        group.permissions.set(permissions)


def remove_staff_roles(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=STAFF_ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0005_staff_permissions"),
        ("referrals", "0002_staff_permissions_and_review_queue"),
        ("coupons", "0001_initial"),
        ("orders", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_staff_roles, remove_staff_roles)]
