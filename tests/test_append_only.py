"""The coupon ledger, the coin ledger and the audit log are append-only (issue 16; docs/program-rules.md G4;
lib/appendonly.py): the ORM refuses to update or delete their rows on every database, and on PostgreSQL a trigger
created by a migration refuses it from any client, raw SQL included."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from coupons.coins import move_coins
from coupons.models import CoinLedger, LedgerEntry
from coupons.services import issue_coupon
from lib.appendonly import AppendOnlyError
from support.audit import record_staff_action
from support.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    member, staff = UserFactory(), UserFactory(is_staff=True)
    coupon = issue_coupon(member=member, source="manual", value=Decimal("5"), idempotency_key="k-1", reason="Test")
    move_coins(member=member, delta=10, kind=CoinLedger.Kind.MANUAL, idempotency_key="coins-1", reason="Test")
    record_staff_action(actor=staff, action="member.flag", target=member, reason="Test")
    return {
        LedgerEntry: LedgerEntry.objects.get(coupon=coupon),
        CoinLedger: CoinLedger.objects.get(member=member),
        AuditLog: AuditLog.objects.get(action="member.flag"),
    }


MODELS = [LedgerEntry, CoinLedger, AuditLog]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_orm_refuses_to_change_or_delete_a_row(rows, model):
    row = rows[model]
    row.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        model.objects.filter(pk=row.pk).delete()
    with pytest.raises(AppendOnlyError):
        model.objects.bulk_update([row], ["reason"])
    assert model.objects.get(pk=row.pk).reason == "Test"


@pytest.mark.postgres
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_postgresql_refuses_update_and_delete_even_in_raw_sql(rows, model):
    row, table = rows[model], model._meta.db_table
    # The table name is the model's own (no input): S608 does not apply.
    update = f"UPDATE {table} SET reason = 'rewritten' WHERE id = %s"  # noqa: S608
    delete = f"DELETE FROM {table} WHERE id = %s"  # noqa: S608
    for sql in (update, delete):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])
    # Past the ORM guard too: Django's own delete query, as a cascade would run it.
    from django.db.models.sql import DeleteQuery

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        DeleteQuery(model).delete_batch([row.pk], "default")
    assert model.objects.get(pk=row.pk).reason == "Test"


@pytest.mark.postgres
def test_the_triggers_come_from_migrations():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")
        names = {name for (name,) in cursor.fetchall()}
    assert {
        "coupons_ledgerentry_append_only",
        "coupons_coinledger_append_only",
        "support_auditlog_append_only",
    } <= names


def test_a_staff_member_who_acted_is_deactivated_not_deleted(rows):
    from django.db.models import ProtectedError

    staff = rows[AuditLog].actor
    with pytest.raises(ProtectedError):
        staff.delete()
