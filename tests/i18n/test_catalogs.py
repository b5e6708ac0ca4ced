"""The catalogs are complete, in step with the code and compiled from their sources (docs/translations.md).

`catalogs.problems()` is what `make test` refuses; the tests below also show that it does refuse: a message
the code gained, an untranslated or fuzzy entry, a translation that lost a placeholder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from django.conf import settings

from referral_portal import catalogs

LANGUAGES = ["de", "fr", "es", "pt-br"]


def test_every_language_but_english_has_a_catalog():
    assert catalogs.languages() == LANGUAGES
    for language in LANGUAGES:
        assert catalogs.po_path(language).exists(), language


def test_the_catalogs_are_complete_and_in_step_with_the_code():
    problems = catalogs.problems()
    assert not problems, "\n".join(map(str, problems[:40])) + "\n→ manage.py catalogs update, translate, compile"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_what_its_source_compiles_to(language):
    assert catalogs.mo_path(language).read_bytes() == catalogs.compiled(language), (
        f"{catalogs.mo_path(language)} is stale: run `manage.py catalogs compile`"
    )


def test_extraction_reads_templates_and_python_with_plurals_and_placeholders():
    messages = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalogs.extract() if m.id}
    # A Jinja2 template's trans with pluralize (referrals/jinja2/referrals/_invite_content.html), the msgid Django's
    # blocktranslate gave it before, so one catalog serves both engines ...
    opens = messages["%(opens)s link open did not lead to a sign-up (yet). We never show who opened your link."]
    assert opens.id[1].startswith("%(opens)s link opens")
    assert "referrals/jinja2/referrals/_invite_content.html" in {path for path, _line in opens.locations}
    # ... a Django template's blocktranslate with count (templates/_form.html) ...
    errors = messages["Please correct this before you go on:"]
    assert errors.id[1] == "Please correct these %(count)s things before you go on:"
    # ... a Python ngettext (referrals/program.py) and a lazy module-level sentence (referrals/reasons.py).
    assert messages["%(count)s hour"].id == ("%(count)s hour", "%(count)s hours")
    assert "For security reasons, your request cannot be processed." in messages
    # An e-mail template and a subject line.
    assert "Reset your Referral Portal password" in messages
    assert "Hello %(first_name)s," in messages


def _copy_locale(tmp_path: Path, monkeypatch) -> Path:
    copy = tmp_path / "locale"
    shutil.copytree(catalogs.LOCALE_DIR, copy)
    monkeypatch.setattr(catalogs, "LOCALE_DIR", copy)
    return copy


def test_a_sentence_the_code_gained_is_reported_missing(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "new.html").write_text('{% load i18n %}<p>{% translate "A brand new sentence" %}</p>')
    problems = [p for p in catalogs.problems(root=tmp_path) if p.msgid == "A brand new sentence"]
    assert {(p.language, p.what) for p in problems} == {
        (language, "in the code, missing from the catalog") for language in LANGUAGES
    }


def test_untranslated_fuzzy_and_broken_entries_are_reported(tmp_path, monkeypatch):
    _copy_locale(tmp_path, monkeypatch)
    path = catalogs.po_path("de")
    catalog = read_po(path.open("rb"), locale="de")
    catalog["Log in"].string = ""
    catalog["Log out"].flags.add("fuzzy")
    catalog["Order %(order)s placed. Thank you!"].string = "Bestellung aufgegeben. Danke!"
    with path.open("wb") as handle:
        write_po(handle, catalog)
    found = {(p.msgid, p.what.split(" in ")[0]) for p in catalogs.problems() if p.language == "de"}
    assert ("Log in", "untranslated") in found
    assert ("Log out", "fuzzy") in found
    assert ("Order %(order)s placed. Thank you!", "placeholders differ") in found


def test_locale_paths_point_at_the_catalogs():
    assert Path(settings.LOCALE_PATHS[0]) == catalogs.LOCALE_DIR
