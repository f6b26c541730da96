"""`kesu pii export --phone 138... [--id-number ...] [--email ...] [--format json|xlsx] [--out FILE]`:
everything held about one person (a data subject's request, PIPL 第四十五条).
`kesu pii purge [--dry-run]`: anonymise cases past their retention period (statistics kept)."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from kesu.errors import DomainError
from kesu.trust import privacy


class Command(BaseCommand):
    help = "个人信息：export 导出某人的全部数据；purge 匿名化超过保存期限的案件"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)
        exp = sub.add_parser("export", help="导出某人的全部数据（JSON 或 XLSX）")
        exp.add_argument("--phone")
        exp.add_argument("--id-number", dest="id_number")
        exp.add_argument("--email")
        exp.add_argument("--format", choices=["json", "xlsx"], default="json")
        exp.add_argument("--out", help="输出文件（默认标准输出，仅 JSON）")
        purge = sub.add_parser("purge", help="匿名化超过保存期限的案件（保留统计字段）")
        purge.add_argument("--dry-run", action="store_true", help="只列出，不修改")

    def handle(self, *args, **opts) -> None:
        if opts["sub"] == "export":
            try:
                data = privacy.person_data(
                    phone=opts["phone"], id_number=opts["id_number"], email=opts["email"]
                )
            except DomainError as exc:
                raise CommandError(exc.message)
            if opts["format"] == "xlsx":
                if not opts["out"]:
                    raise CommandError("XLSX 须用 --out 指定输出文件")
                with open(opts["out"], "wb") as fh:
                    privacy.write_person_xlsx(data, fh)
            else:
                text = json.dumps(data, ensure_ascii=False, indent=2)
                if opts["out"]:
                    with open(opts["out"], "w", encoding="utf-8") as fh:
                        fh.write(text)
                else:
                    sys.stdout.write(text + "\n")
            self.stderr.write(f"{len(data['customers'])} 位客户记录，{len(data['cases'])} 件案件")
            return
        result = privacy.purge(dry_run=opts["dry_run"])
        for number in result.cases[:50]:
            self.stdout.write(number)
        if result.case_count > 50:
            self.stdout.write(f"…… 共 {result.case_count} 件")
        self.stdout.write(self.style.SUCCESS(str(result)))
