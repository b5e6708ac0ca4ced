"""Use-case flows that cross apps: the top of the domain stack (docs/architecture.md).

A lower app never calls a higher one. When something in a lower app must cause something in a higher one
(an order is placed, paid, completed, canceled or refunded → its coupons, its buyer's level, a referral, a
support case), a flow here calls each app's services in turn, in ONE transaction, so the guarantees of the
old in-place calls hold: all or nothing, and the same row locks.

- orders: checkout, placing, transitions and refund decisions, with everything they cause;
- order_events: the signed shop events (inbox: at most once per event id);
- signup: a friend's sign-up through a link, with the audit rows of a device ring it reveals.

Views, admin actions, tasks, commands and demo data call these; no domain module of an app imports them.
"""
