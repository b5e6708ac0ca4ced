"""The staff console (Django admin) of support: everything staff use beyond the member pages.

- requests:      support requests (staff answer them; every change audited);
- audit:         the audit log, read-only;
- staff_actions: `run_staff_action`, the reason form and audit row every admin action of the console goes through;
- second_factor: the admin site that asks staff for an authenticator code, and its page;
- dashboard:     the staff dashboard page and the referrals CSV export (its figures: `support.dashboard`).
The ModelAdmins of `requests` and `audit` are registered by `SupportConfig.ready`, not by importing this
package: the admin site's class lives in `second_factor`, and importing it must not register anything while
`admin.site` is still being built.
"""
