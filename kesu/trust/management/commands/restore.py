"""`kesu restore IN.tar.gz [--database-url URL] [--media-dir DIR] [--force]`: restore a backup and verify
counts and checksums against its manifest (exit status 1 on any difference)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from kesu.trust.backup import BackupError, restore


class Command(BaseCommand):
    help = "从备份恢复数据库和附件文件，并按清单校验计数与校验和"

    def add_arguments(self, parser) -> None:
        parser.add_argument("src", help="备份文件 .tar.gz")
        parser.add_argument("--database-url", help="恢复到另一个数据库（默认：当前配置的数据库）")
        parser.add_argument(
            "--media-dir", help="文件恢复到此目录（默认：配置的存储，KESU_MEDIA_DIR 或 S3 存储桶）"
        )
        parser.add_argument("--force", action="store_true", help="覆盖已存在的 SQLite 数据库文件")

    def handle(self, *args, **opts) -> None:
        try:
            result = restore(
                opts["src"],
                database_url=opts["database_url"],
                media_dir=opts["media_dir"],
                force=opts["force"],
            )
        except BackupError as exc:
            raise CommandError(str(exc), returncode=1)
        counts = result["restored"]["counts"]
        self.stdout.write(
            self.style.SUCCESS(
                f"已恢复并校验：案件 {counts.get('cases_case', 0)} 件，事件 {counts.get('cases_caseevent', 0)} 条，"
                f"文件 {result['files']} 个"
            )
        )
