"""`kesu report monthly --month 2026-11 --format pdf` — generate (and archive) an analysis report.

kesu report daily   [--day 2026-11-05]   [--format pdf|html|xlsx] [--output FILE] [--mail]
kesu report weekly  [--week 2026-W45]
kesu report monthly [--month 2026-11]
kesu report quarterly [--quarter 2026-Q3]
kesu report annual  [--year 2026]
kesu report schedule                      # generate what is due today (for cron), no re-enqueue
"""

from __future__ import annotations

from pathlib import Path

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from kesu.analytics import reports
from kesu.analytics.periods import Period


class Command(BaseCommand):
    help = "生成投诉分析日报/周报/月报/季报/年报（HTML、PDF、XLSX）并存档"

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["daily", "weekly", "monthly", "quarterly", "annual", "schedule"])
        parser.add_argument("--day", help="日报日期，如 2026-11-05（默认昨天）")
        parser.add_argument("--week", help="周报，如 2026-W45（默认上周）")
        parser.add_argument("--month", help="月报月份，如 2026-11（默认上月）")
        parser.add_argument("--quarter", help="季报，如 2026-Q3（默认上一季度）")
        parser.add_argument("--year", help="年报年份，如 2026（默认上一年）")
        parser.add_argument("--format", default="pdf", choices=["pdf", "html", "xlsx"])
        parser.add_argument("--output", help="另存一份到此文件")
        parser.add_argument("--customers", type=int, help="客户总数（用于万户投诉率）")
        parser.add_argument("--mail", action="store_true", help="发送给订阅人")

    def handle(self, *args, **opts):
        kind = opts["kind"]
        if kind == "schedule":
            from kesu.analytics.tasks import run_report_schedule

            done = run_report_schedule.call(False)
            self.stdout.write("已安排：" + ("、".join(done) if done else "无"))
            return
        units = {
            "daily": "day",
            "weekly": "week",
            "monthly": "month",
            "quarterly": "quarter",
            "annual": "year",
        }
        text = opts.get(units[kind])  # the option is named after the unit: --day, --week … --year
        try:
            period = Period.parse(text) if text else reports.default_period(kind)
        except (ValueError, TypeError) as exc:
            raise CommandError(f"无效的期间：{text}（{exc}）")
        expected = units[kind]
        if period.unit != expected:
            names = {"day": "日期", "week": "周", "month": "月份", "quarter": "季度", "year": "年份"}
            raise CommandError(f"{kind} 报告需要{names[expected]}")
        report = reports.generate(kind, period, opts["format"], customer_base=opts.get("customers"))
        where = f"{reports.report_storage_name(report)}（存储：{type(default_storage).__name__}）"
        if opts.get("output"):
            Path(opts["output"]).write_bytes(reports.read_report(report))
            where = opts["output"]
        if opts.get("mail"):
            sent = reports.send_to_subscribers(report)
            self.stdout.write(f"已发送：{', '.join(sent) or '无订阅人'}")
        self.stdout.write(f"{report.title}（{report.format.upper()}，{report.size} 字节）→ {where}")
        for f in report.findings:
            self.stdout.write(f"  · {f['text']}")
