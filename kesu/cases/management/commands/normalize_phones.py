"""`kesu normalize_phones [--dry-run]`: convert the customers' stored phones to the one normalised
form (kesu.cases.phones), reporting numbers it cannot convert and customers that end up sharing a
number. Migration cases 0014 runs the same on upgrade; run this to see what is left to look at."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from kesu.cases.models import Customer
from kesu.cases.phones import normalise_stored_phones


class Command(BaseCommand):
    help = "把客户电话统一转换为标准格式，列出无法转换的号码和转换后号码相同的客户（不合并）。"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="只列出，不修改")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        report = normalise_stored_phones(Customer, apply=not dry_run)
        for line in report.lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("dry run: nothing changed")
