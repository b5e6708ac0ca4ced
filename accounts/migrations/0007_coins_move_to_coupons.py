"""CheckIn and CoinLedger move to the coupons app (the wallet owns coins); no row is touched here.

State only: accounts forgets the two models, the tables stay. coupons 0003 takes them over on the same tables
(then renames them to coupons_checkin / coupons_coinledger) and moves their content types and permissions.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_hash_indexes_without_like"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="CheckIn"),
                migrations.DeleteModel(name="CoinLedger"),
            ],
            database_operations=[],
        ),
    ]
