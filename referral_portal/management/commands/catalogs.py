"""`manage.py catalogs update|compile|check`: the translation catalogs without GNU gettext (docs/translations.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from referral_portal import catalogs


class Command(BaseCommand):
    help = "update: merge the code's messages into locale/*/django.po; compile: write the .mo; check: list problems."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["update", "compile", "check"])
        parser.add_argument("-l", "--language", action="append", help="Only this language (repeatable).")

    def handle(self, *args, action: str, language: list[str] | None = None, **options):
        if action == "update":
            for code, missing in catalogs.update(language).items():
                self.stdout.write(f"{catalogs.po_path(code)}: {missing} to translate")
        elif action == "compile":
            for path in catalogs.compile_catalog(language):
                self.stdout.write(f"wrote {path}")
        else:
            found = catalogs.problems()
            for problem in found:
                self.stdout.write(str(problem))
            if found:
                raise CommandError(f"{len(found)} problem(s) in the catalogs")
            self.stdout.write("catalogs complete and in step with the code")
