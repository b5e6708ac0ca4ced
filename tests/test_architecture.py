"""The layer contract of docs/architecture.md, beyond what import-linter checks (`make lint-imports`).

import-linter proves imports go only downward; these tests keep the rest of the contract true:
no function-level import across apps in domain code (the old way to hide a cycle), no HTTP in domain
code (services take values), and modules small enough to read (a pure rule engine excepted).
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
from pathlib import Path

import pytest

from lib.errors import DomainError

ROOT = Path(__file__).resolve().parent.parent
APPS = ("lib", "ops", "accounts", "orders", "coupons", "referrals", "outbound", "support", "flows")
PROJECT_PACKAGES = (*APPS, "referral_portal")
# The interface layer: it may call any app and may deal in requests and responses.
INTERFACE_PARTS = {
    "views",
    "admin",
    "tasks",
    "urls",
    "forms",
    "demo",
    "management",
    "templatetags",
    "middleware",
    "decorators",
    "cookies",
    "apps",
    "migrations",
    "throttle",
}
# Request-level helpers that live in lib (app-free, used by the interface layer only).
HTTP_HELPERS = {"lib/client.py", "lib/admin.py", "lib/metrics.py"}
# A pure rule engine may be longer when it reads top to bottom (docs/architecture.md).
LONG_PURE_RULES = {"coupons/stacking.py"}
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for app in APPS for p in (ROOT / app).rglob("*.py"))


def _domain_modules() -> list[Path]:
    out = []
    for path in _modules():
        parts = {part.removesuffix(".py") for part in path.relative_to(ROOT).parts[1:]}
        if not parts & INTERFACE_PARTS:
            out.append(path)
    return out


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def test_the_domain_layer_is_not_empty():
    domain = {_rel(p) for p in _domain_modules()}
    assert {
        "orders/services/placing.py",
        "coupons/stacking.py",
        "referrals/eligibility.py",
        "flows/orders.py",
    } <= domain
    assert "orders/views.py" not in domain and "referrals/tasks.py" not in domain


@pytest.mark.parametrize("path", _domain_modules(), ids=_rel)
def test_no_function_level_import_of_another_app_in_domain_code(path: Path):
    app = path.relative_to(ROOT).parts[0]
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    hidden = [
        f"{_rel(path)}:{node.lineno} imports {name} inside a function"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level
        for name in _imported_modules(node)
        if name.split(".")[0] in PROJECT_PACKAGES and name.split(".")[0] != app
    ]
    assert hidden == []


@pytest.mark.parametrize("path", [p for p in _domain_modules() if _rel(p) not in HTTP_HELPERS], ids=_rel)
def test_domain_code_takes_values_not_requests(path: Path):
    """Services and selectors get a ClientInfo, ids and plain values from the view, never the HttpRequest."""
    tree = ast.parse(path.read_text())
    http = [
        f"{_rel(path)}:{node.lineno} imports {name}"
        for node in ast.walk(tree)
        for name in _imported_modules(node)
        if name in ("django.http", "django.shortcuts") or name.startswith("django.http.")
    ]
    assert http == []


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _rel(p) not in LONG_PURE_RULES and "migrations" not in p.parts], ids=_rel
)
def test_modules_stay_under_400_lines(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_LINES, f"{_rel(path)}: split it by responsibility"


def test_mypy_checks_exactly_the_domain_layer():
    """pyproject's mypy exclude pattern and this file's interface parts name the same modules, so a new service,
    selector or rule module is type-checked without anyone editing the configuration."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    excluded = [re.compile(pattern) for pattern in mypy["exclude"]]
    checked = {_rel(p) for p in _modules() if not any(pattern.search(_rel(p)) for pattern in excluded)}
    assert set(mypy["files"]) == set(APPS)
    assert checked == {_rel(p) for p in _domain_modules()}


# Exceptions that are not refusals a person reads: an infrastructure failure and a private control-flow signal.
# Not refusals: a failure of an outside service (SMS, a Redis that does not answer) and an internal signal.
NOT_REFUSALS = {"SMSDeliveryError", "_KeyTaken", "CircuitOpen"}


def test_every_refusal_of_the_domain_is_a_domain_error():
    """One error base class: whatever a rule refuses carries a stable `code` and a `message` (lib.errors)."""
    classes = []
    for path in _domain_modules():
        module = _rel(path).removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name not in NOT_REFUSALS:
                obj = getattr(importlib.import_module(module), node.name)
                if isinstance(obj, type) and issubclass(obj, BaseException):
                    classes.append(obj)
    assert len(classes) > 15
    assert [c.__qualname__ for c in classes if not issubclass(c, DomainError)] == []
    assert [c.__qualname__ for c in classes if not c.code or c.code != c.code.upper()] == []
