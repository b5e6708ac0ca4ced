"""Following a store: once per member and store, undone by unfollowing."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from orders.models import Store, StoreFollow


@transaction.atomic
def follow_store(*, member: User, store: Store) -> bool:
    """Follow `store` once (the unique pair makes a double click one row); returns whether it is new."""
    _, created = StoreFollow.objects.get_or_create(store=store, member=member)
    return created


@transaction.atomic
def unfollow_store(*, member: User, store: Store) -> bool:
    """Stop following `store`; coupons already collected stay in the wallet. Returns whether a follow ended."""
    deleted, _ = StoreFollow.objects.filter(store=store, member=member).delete()
    return bool(deleted)
