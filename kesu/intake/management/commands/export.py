"""`kesu export --user NAME --out cases.xlsx [--status closed ...] [--case TS2026...]`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kesu.cases.selectors import CaseFilters
from kesu.intake import exporters
from kesu.intake.parsers import parse_datetime


class Command(BaseCommand):
    help = "导出案件清单或案件档案（XLSX/CSV，按用户权限，非授权角色的个人信息脱敏）"

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="以哪个用户的权限导出")
        parser.add_argument("--out", required=True, help="输出文件（.xlsx 或 .csv）")
        parser.add_argument("--case", help="只导出这一案件的完整档案")
        parser.add_argument("--status", action="append")
        parser.add_argument("--level", action="append")
        parser.add_argument("--channel", action="append")
        parser.add_argument("--department")
        parser.add_argument("--category")
        parser.add_argument("--from", dest="received_from", help="接收时间起（含），如 2026-01-01")
        parser.add_argument("--to", dest="received_to", help="接收时间止（不含）")
        parser.add_argument("--open-only", action="store_true")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"用户 {opts['user']} 不存在")
        out = Path(opts["out"])
        fmt = out.suffix.lstrip(".").lower()
        if fmt not in ("xlsx", "csv"):
            raise CommandError("输出文件须为 .xlsx 或 .csv")

        def when(value: str | None) -> dt.datetime | None:
            if not value:
                return None
            parsed = parse_datetime(value)
            if parsed is None:
                raise CommandError(f"无法识别的日期：{value}")
            return parsed

        with open(out, "wb") as f:
            if opts["case"]:
                log = exporters.export_case_file(user, opts["case"], fmt, f)
            else:
                filters = CaseFilters(
                    status=opts["status"],
                    level=opts["level"],
                    channel=opts["channel"],
                    department=opts["department"],
                    category=opts["category"],
                    received_from=when(opts["received_from"]),
                    received_to=when(opts["received_to"]),
                    open_only=opts["open_only"],
                )
                log = exporters.export_cases(user, filters, fmt, f)
        masked = "（个人信息已脱敏）" if log.pii_masked else ""
        self.stdout.write(f"已导出 {log.row_count} 条到 {out}{masked}")
