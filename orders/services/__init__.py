"""Write use cases of the orders app, one module per responsibility.

- lines: what an order line is (`LineInput`) and the quantity rule;
- cards: test card labels and the card fingerprint an order keeps;
- placing: creating an order and deciding its buyer's first order;
- transitions: recording what happened to an order, whatever order events arrive in;
- refunds: refund requests and staff decisions;
- inbox: the order-event inbox (at most once per event id).

What an order's change does elsewhere (its coupons, the buyer's level, a referral) is not decided here:
`flows.orders` calls these services and then each app above in turn, in one transaction
(docs/architecture.md).
"""
