"""`kesu sla sweep | penalties --month YYYY-MM --out FILE | recompute`."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from kesu.cases.spreadsheet import csv_writer, safe_row


class Command(BaseCommand):
    help = "时限管理：扫描超时与预警、导出月度责任追究汇总、重算时限"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True)
        sweep = sub.add_parser("sweep", help="扫描预警、超时并逐级升级（幂等）")
        sweep.add_argument("--now", help="以此时间为当前时间（测试、补跑用）")
        sweep.add_argument("--enqueue", action="store_true", help="交给后台任务执行")
        pen = sub.add_parser("penalties", help="月度责任追究汇总（按机构）")
        pen.add_argument("--month", required=True, help="YYYY-MM")
        pen.add_argument("--out", required=True, help="输出文件 .xlsx 或 .csv")
        # Penalties apply once confirmed (000 第2篇 第九条: 经过调查属实): proposals only when asked for.
        pen.add_argument("--proposed", action="store_true", help="同时统计待确认的责任追究")
        rc = sub.add_parser("recompute", help="重算按推定日历计算的时限")
        rc.add_argument("--reason", default="管理员重算时限")

    def handle(self, *args, **opts):
        return getattr(self, "do_" + opts["sub"])(opts) or ""

    def do_sweep(self, opts):
        if opts["enqueue"]:
            from kesu.sla.tasks import sweep_deadlines

            result = sweep_deadlines.enqueue()
            self.stdout.write(f"已加入后台任务：{result.id}")
            return
        from kesu.calendar.workcalendar import parse_instant
        from kesu.sla.sweeper import sweep

        now = parse_instant(opts["now"]) if opts.get("now") else None
        r = sweep(now)
        self.stdout.write(
            f"检查 {r.examined} 项：预警 {r.warnings}，超时 {r.breaches}，升级 {r.escalations}，"
            f"责任追究 {r.accountabilities}，Webhook 重试 {r.webhook_retries}，错误 {len(r.errors)}"
        )

    def do_penalties(self, opts):
        from kesu.sla.selectors import PENALTY_COLUMNS, penalty_summary

        try:
            dt.datetime.strptime(opts["month"], "%Y-%m")
        except ValueError:
            raise CommandError("月份格式应为 YYYY-MM")
        rows = penalty_summary(opts["month"], include_proposed=opts["proposed"])
        out = opts["out"]
        headers = [label for _, label in PENALTY_COLUMNS]
        if out.lower().endswith(".csv"):
            with open(out, "w", newline="", encoding="utf-8-sig") as fh:
                w = csv_writer(fh)
                w.writerow(headers)
                for r in rows:
                    w.writerow([r[k] for k, _ in PENALTY_COLUMNS])
        elif out.lower().endswith(".xlsx"):
            from openpyxl import Workbook

            wb = Workbook()
            ws = wb.active
            ws.title = f"责任追究{opts['month']}"
            ws.append(headers)
            for r in rows:
                ws.append(safe_row(float(r[k]) if k == "amount" else r[k] for k, _ in PENALTY_COLUMNS))
            wb.save(out)
        else:
            raise CommandError("输出文件须为 .xlsx 或 .csv")
        self.stdout.write(f"已导出 {len(rows)} 行到 {out}")

    def do_recompute(self, opts):
        from kesu.sla.services import recompute_fallback_deadlines

        n = recompute_fallback_deadlines(opts["reason"])
        self.stdout.write(f"已重算 {n} 件案件的时限")
