"""Coins spent or returned at checkout before the coin ledger covered them get their CoinLedger rows.

Until now a checkout changed `User.coins` with a raw UPDATE and wrote only the coupon ledger (keys
`coins:order:<order>` and `coins-returned:order:<order>`). Each such row gets its coin-ledger row under the key the
code now writes (`coins-checkout:order:<order>`, `coins-return:order:<order>`), with the same time, member and order.

`balance_after` of a new row is read backwards from the nearest later known balance: the next existing ledger row's
`balance_after` minus its delta, or the member's balance today. Safe to run twice (keys are unique).
"""

from django.db import migrations

SPENT, RETURNED = "coins:order:", "coins-returned:order:"
NEW_SPENT, NEW_RETURNED = "coins-checkout:order:", "coins-return:order:"


def forwards(apps, schema_editor) -> None:
    LedgerEntry = apps.get_model("coupons", "LedgerEntry")
    CoinLedger = apps.get_model("coupons", "CoinLedger")
    User = apps.get_model("accounts", "User")
    taken = set(
        CoinLedger.objects.filter(idempotency_key__startswith="coins-").values_list("idempotency_key", flat=True)
    )
    missing: dict[int, list] = {}
    for entry in LedgerEntry.objects.filter(idempotency_key__startswith="coins").order_by("created_at", "id"):
        key = entry.idempotency_key
        if key.startswith(SPENT):
            new_key, kind, sign = NEW_SPENT + key[len(SPENT) :], "checkout", -1
            reason = f"{int(abs(entry.amount) * 100)} coins at checkout (order {entry.order_id})"
        elif key.startswith(RETURNED):
            new_key, kind, sign = NEW_RETURNED + key[len(RETURNED) :], "return", 1
            reason = f"Coins returned: order {entry.order_id} canceled before payment"
        else:
            continue
        coins = int((abs(entry.amount) * 100).to_integral_value())
        if coins == 0 or new_key in taken:
            continue
        row = CoinLedger(
            member_id=entry.member_id,
            delta=sign * coins,
            balance_after=0,
            kind=kind,
            reason=reason,
            idempotency_key=new_key,
            order_id=entry.order_id,
            created_at=entry.created_at,
        )
        missing.setdefault(entry.member_id, []).append(row)
    for member_id, rows in missing.items():
        existing = list(CoinLedger.objects.filter(member_id=member_id).order_by("created_at", "id"))
        events = sorted([*existing, *rows], key=lambda r: (r.created_at, r.pk is None, r.pk or 0))
        balance = User.objects.filter(pk=member_id).values_list("coins", flat=True).get()
        for row in reversed(events):
            if row.pk is not None:
                balance = row.balance_after  # a known balance: the anchor for the rows before it
            else:
                row.balance_after = max(balance, 0)
            balance -= row.delta
        CoinLedger.objects.bulk_create(rows)


def backwards(apps, schema_editor) -> None:
    CoinLedger = apps.get_model("coupons", "CoinLedger")
    CoinLedger.objects.filter(idempotency_key__startswith=NEW_SPENT).delete()
    CoinLedger.objects.filter(idempotency_key__startswith=NEW_RETURNED).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("coupons", "0003_coins_from_accounts"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
