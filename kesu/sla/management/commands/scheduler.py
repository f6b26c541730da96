"""`kesu scheduler [--once] [--interval SECONDS]`: enqueue the periodic jobs when they are due."""

import time

from django.core.management.base import BaseCommand

from kesu.sla.schedule import run_due


class Command(BaseCommand):
    help = "Run the periodic jobs (deadline sweep, surge checks, forecasts, reports) when they are due"

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="check once and exit (for cron)")
        parser.add_argument("--interval", type=float, default=20.0, help="seconds between checks")

    def handle(self, *args, once: bool, interval: float, **options):
        while True:
            for name in run_due():
                self.stdout.write(f"enqueued {name}")
            if once:
                return
            time.sleep(interval)
