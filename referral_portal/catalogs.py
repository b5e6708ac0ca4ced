"""The translation catalogs, with the project's own Python tooling (Babel): no GNU gettext needed.

- `extract()` reads every message the code can show: Python files through Babel's Python extractor
  (gettext, gettext_lazy, ngettext, pgettext, …) and templates through Django's own `templatize`
  (the same conversion `makemessages` feeds to xgettext), so `{% translate %}` and
  `{% blocktranslate count %}` give exactly the msgids Django looks up at run time;
- `update()` merges them into `locale/<language>/LC_MESSAGES/django.po` (new messages empty, gone
  ones dropped, no fuzzy guessing: a translator translates each new sentence);
- `compile_catalog()` writes the `.mo` Django reads; the `.mo` files are committed, and
  `tests/test_translations.py` checks they equal what their `.po` compiles to;
- `problems()` lists what `make test` refuses: a message in the code missing from a catalog, an
  untranslated or fuzzy entry, a placeholder or HTML tag that differs between a message and its translation.

`manage.py catalogs update|compile|check` runs them (docs/translations.md).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from django.conf import settings
from django.utils.translation import to_locale
from django.utils.translation.template import templatize
from jinja2.ext import babel_extract

BASE_DIR = Path(settings.BASE_DIR)
LOCALE_DIR = BASE_DIR / "locale"
# Where messages come from: the apps and the project (not tests, migrations, benchmarks or the venv).
SOURCE_DIRS = ("accounts", "coupons", "flows", "lib", "orders", "referral_portal", "referrals", "support", "templates")
TEMPLATE_SUFFIXES = {".html", ".txt", ".subject"}
SKIPPED_PARTS = {"migrations", "__pycache__"}

KEYWORDS: dict[str, tuple | None] = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}

_PLACEHOLDER = re.compile(r"%\([a-zA-Z0-9_]+\)[sdf]|%[sd]")
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")


def languages() -> list[str]:
    """The translated languages (every entry of settings.LANGUAGES but the source language)."""
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def po_path(language: str) -> Path:
    return LOCALE_DIR / to_locale(language) / "LC_MESSAGES" / "django.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def _sources(root: Path) -> Iterator[Path]:
    for top in SOURCE_DIRS:
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or SKIPPED_PARTS & set(path.relative_to(root).parts):
                continue
            if path.suffix == ".py" or (path.suffix in TEMPLATE_SUFFIXES and {"templates", "jinja2"} & set(path.parts)):
                yield path


def _jinja2_messages(path: Path) -> Iterator[tuple[int, str, tuple[str | None, ...] | str, list[str]]]:
    """Jinja2's own Babel extractor, with the environment the portal renders with (its i18n extension)."""
    with path.open("rb") as fileobj:
        yield from babel_extract(fileobj, KEYWORDS.keys(), [], {"extensions": "jinja2.ext.i18n", "trimmed": "false"})


def _messages_of(path: Path, root: Path) -> Iterator[tuple[int, str | tuple[str, ...], str | None]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py" and "jinja2" in path.relative_to(root).parts:
        found = _jinja2_messages(path)
    elif path.suffix != ".py":
        # Django's own conversion of a template to gettext calls; the filler around them is not Python, so its
        # indentation is dropped for the tokenizer (line numbers stay).
        text = "\n".join(line.lstrip() for line in templatize(text, origin=str(path.relative_to(root))).split("\n"))
        found = extract_python(io.BytesIO(text.encode()), KEYWORDS, [], {})
    else:
        found = extract_python(io.BytesIO(text.encode()), KEYWORDS, [], {})
    for lineno, funcname, messages, _comments in found:
        spec = KEYWORDS[funcname]
        context = None
        if messages is None:  # a call with a variable (a label written by the code earlier): nothing to extract
            continue
        if isinstance(messages, str):
            messages = (messages,)
        if spec and isinstance(spec[0], tuple):  # (context, msgid[, plural])
            context, messages = messages[0], messages[1:]
        messages = tuple(m for m in messages if m is not None)
        if not messages or not messages[0]:
            continue
        yield lineno, messages if len(messages) > 1 else messages[0], context


def extract(root: Path = BASE_DIR) -> Catalog:
    """Every message in the code, as a template catalog (msgid, plural, context, where it is used)."""
    catalog = Catalog(project="Referral Portal", charset="utf-8", fuzzy=False)
    for path in _sources(root):
        where = str(path.relative_to(root))
        for lineno, message, context in _messages_of(path, root):
            catalog.add(message, locations=[(where, lineno)], context=context)
    return catalog


def read_catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=to_locale(language), domain="django")


def write_catalog(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # Sorted, without line numbers: a catalog changes only where its messages change (calm merges).
    write_po(buffer, catalog, width=120, sort_output=True, include_lineno=False, ignore_obsolete=True)
    path.write_bytes(buffer.getvalue())


def update(languages_: list[str] | None = None, root: Path = BASE_DIR) -> dict[str, int]:
    """Merge the code's messages into each catalog; returns how many entries each still lacks."""
    template = extract(root)
    missing: dict[str, int] = {}
    for language in languages_ or languages():
        path = po_path(language)
        if path.exists():
            catalog = read_catalog(language)
        else:
            catalog = Catalog(locale=to_locale(language), project="Referral Portal", charset="utf-8", fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False, update_creation_date=False)
        catalog.fuzzy = False
        write_catalog(catalog, path)
        missing[language] = sum(1 for m in _real(catalog) if not _translated(m))
    return missing


def compiled(language: str) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(language), use_fuzzy=False)
    return buffer.getvalue()


def compile_catalog(languages_: list[str] | None = None) -> list[Path]:
    written = []
    for language in languages_ or languages():
        path = mo_path(language)
        path.write_bytes(compiled(language))
        written.append(path)
    return written


def _real(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return bool(strings) and all(strings)


def _key(message: Message) -> tuple[str, str | None]:
    msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
    return msgid, message.context


@dataclass(frozen=True)
class Problem:
    language: str
    msgid: str
    what: str

    def __str__(self) -> str:
        return f"[{self.language}] {self.what}: {self.msgid!r}"


def problems(root: Path = BASE_DIR) -> list[Problem]:
    """Everything `make test` refuses in the catalogs (an empty list when they are complete and in step)."""
    code = {_key(m): m for m in _real(extract(root))}
    found: list[Problem] = []
    for language in languages():
        if not po_path(language).exists():
            found.append(Problem(language, str(po_path(language)), "no catalog"))
            continue
        catalog = read_catalog(language)
        entries = {_key(m): m for m in _real(catalog)}
        for key in sorted(code.keys() - entries.keys(), key=str):
            found.append(Problem(language, key[0], "in the code, missing from the catalog"))
        for key in sorted(entries.keys() - code.keys(), key=str):
            found.append(Problem(language, key[0], "in the catalog, no longer in the code"))
        for key, message in entries.items():
            if message.fuzzy:
                found.append(Problem(language, key[0], "fuzzy"))
            if not _translated(message):
                found.append(Problem(language, key[0], "untranslated"))
                continue
            if key in code and isinstance(code[key].id, tuple) != isinstance(message.id, tuple):
                found.append(Problem(language, key[0], "plural in one place, singular in the other"))
            sources = message.id if isinstance(message.id, tuple | list) else (message.id,)
            strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
            placeholders = set(_PLACEHOLDER.findall(" ".join(sources)))
            tags = sorted(set(_TAG.findall(sources[0])))
            for string in strings:
                if set(_PLACEHOLDER.findall(string)) - placeholders:
                    found.append(Problem(language, key[0], f"unknown placeholder in {string!r}"))
                if sorted(set(_TAG.findall(string))) != tags:
                    found.append(Problem(language, key[0], f"HTML tags differ in {string!r}"))
            if len(strings) == 1 and set(_PLACEHOLDER.findall(strings[0])) != placeholders:
                found.append(Problem(language, key[0], f"placeholders differ in {strings[0]!r}"))
    return found
