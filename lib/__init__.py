"""App-free helpers: the bottom layer (docs/architecture.md).

Nothing here imports a project app (accounts, orders, coupons, referrals, support) or the project
package; every app may import from here. Money formatting, the error base class, what a request
tells about its client, rate limits, the page cache and small admin building blocks.
"""
