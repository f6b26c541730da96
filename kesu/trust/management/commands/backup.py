"""`kesu backup OUT.tar.gz [--prefer auto|native|json]`: the database (SQLite online backup, PostgreSQL
pg_dump, or a JSON dump) and the attachment files, with a manifest of counts and checksums."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from kesu.trust.backup import backup


class Command(BaseCommand):
    help = "备份数据库和附件文件到一个 .tar.gz（含计数与校验和清单）"

    def add_arguments(self, parser) -> None:
        parser.add_argument("out", help="输出文件，例如 var/backups/kesu-20260101.tar.gz")
        parser.add_argument("--prefer", choices=["auto", "native", "json"], default="auto")

    def handle(self, *args, **opts) -> None:
        manifest = backup(opts["out"], prefer=opts["prefer"])
        counts = manifest["counts"]
        self.stdout.write(
            self.style.SUCCESS(
                f"已备份到 {opts['out']}（{manifest['database_format']}）：案件 {counts.get('cases_case', 0)} 件，"
                f"事件 {counts.get('cases_caseevent', 0)} 条，文件 {len(manifest['media'])} 个"
            )
        )
