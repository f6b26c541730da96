"""`kesu rebuild_rollups` — fill the analytics rollups from the existing cases.

After an upgrade that introduced a rollup, a raw bulk load, or a change of the official holiday schedule (the
close times are working hours). Until then the statistics engine counts the live tables: it reads the daily
counts only where they account for every case (`kesu.analytics.rollups.accounts_for`).

kesu rebuild_rollups                 # both
kesu rebuild_rollups --only counts   # the daily case counts (set-based, seconds at 1M cases)
kesu rebuild_rollups --only close    # the working time to close of every closed case
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from kesu.analytics import rollups


class Command(BaseCommand):
    help = "重建统计汇总表（每日案件数、办结工作时长）"

    def add_arguments(self, parser):
        parser.add_argument("--only", choices=["counts", "close"], help="只重建其中一张表")

    def handle(self, *args, **opts):
        only = opts.get("only")
        if only in (None, "counts"):
            started = time.perf_counter()
            n = rollups.rebuild_daily_counts()
            self.stdout.write(f"每日案件数：{n} 件案件，{time.perf_counter() - started:.1f} 秒")
        if only in (None, "close"):
            started = time.perf_counter()
            n = rollups.rebuild_close_times()
            self.stdout.write(f"办结工作时长：{n} 件已办结案件，{time.perf_counter() - started:.1f} 秒")
