# The two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
WEB_PORT ?= 8000
export WEB_PORT
# Links in e-mails point at the port `make run` serves on (unless SITE_URL is set).
SITE_URL ?= http://127.0.0.1:$(WEB_PORT)
export SITE_URL

# Production-like values for `manage.py check --deploy` (nothing here is a real secret). Production's values are
# set explicitly for what a shell or .env may turn off; tests/test_settings.py runs the same check with these.
DEPLOY_ENV := DEBUG=0 SECRET_KEY=deploy-check-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
	ALLOWED_HOSTS=portal.example.com SECURE_SSL_REDIRECT=1 ORDER_EVENTS_SECRETS=deploy-check-secret \
	STAFF_REQUIRE_2FA=1 SECURE_COOKIES=1 SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_PRELOAD=1 SILENCED_SYSTEM_CHECKS= \
	SHOP_SIMULATION=0 SMS_BACKEND=accounts.sms.HTTPSMSBackend SMS_API_URL=https://sms.example/messages

.PHONY: run test lint lint-imports typecheck format migrations-check deploy-check pytest bench demo clean help

help:
	@echo "make run    - install, migrate, load demo data, start web + worker + beat"
	@echo "make test   - lint, layer contract, type check, migrations check, deploy check, the whole test suite"
	@echo "make bench  - benchmarks under bench/ (not part of make test)"

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check --upgrade pip
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput -v 1
	DEBUG=$${DEBUG:-1} $(PY) manage.py load_demo_data
	@echo ""
	@echo "  Referral Portal: http://127.0.0.1:$(WEB_PORT)/   (staff admin: http://127.0.0.1:$(WEB_PORT)/admin/)"
	@echo "  Database: $${DATABASE_URL:-SQLite (var/db.sqlite3)}   Broker: $${CELERY_BROKER_URL:-filesystem (var/celery)}"
	@echo "  Shop simulation on (mark paid / mark shipped on an order); phone codes go to var/sms-outbox.txt."
	@echo "  Ctrl-C stops web, worker and beat. The URL and logins are printed again once all three are up."
	@echo ""
	DEBUG=$${DEBUG:-1} SHOP_SIMULATION=$${SHOP_SIMULATION:-1} PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
		$(VENV)/bin/honcho start -f Procfile.dev

demo: $(VENV)/.installed
	DEBUG=$${DEBUG:-1} $(PY) manage.py load_demo_data

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The layer contract (docs/architecture.md): imports only go down the stack.
lint-imports: $(VENV)/.dev-installed
	$(VENV)/bin/lint-imports --no-cache

# The domain layer is type-checked (files listed under [tool.mypy] in pyproject.toml).
typecheck: $(VENV)/.dev-installed
	DEBUG=1 $(VENV)/bin/mypy

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: $(VENV)/.dev-installed
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

deploy-check: $(VENV)/.dev-installed
	$(DEPLOY_ENV) $(PY) manage.py check --deploy --fail-level WARNING

pytest: $(VENV)/.dev-installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint lint-imports typecheck migrations-check deploy-check pytest

bench: $(VENV)/.dev-installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var/
