"""What the referral pages and services read, one module per responsibility (import from the module itself):

- links:        the code behind a link or a typed code, who invited a visitor, whether a device has an account;
- facts:        eligibility facts gathered for `referrals.eligibility` (sign-up, first order);
- friend:       what a friend reads after signing up, whether their welcome package waits for a review, the
                friend's own invitation page and whether its review may close on a verified phone;
- impact:       what canceling or refunding a friend's first order does to the invitation;
- meter:        this program month's count against the limit, and what the member earned;
- funnel:       clicks → sign-ups → first orders → coupons per share channel (the referrals' counts kept by
                database triggers, `ReferralTally`);
- cards:        the Invite Friends tabs and referral cards;
- behaviour:    the staff's behaviour panel on a referrer.

Every function runs a fixed number of queries, whatever the number of referrals or clicks.
Support requests are support's (`support.selectors`): the views compose them with these.
"""
