"""`kesu import FILE --source NAME [--validate] [--mapping mapping.json] [--report rejects.xlsx]`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kesu.errors import DomainError
from kesu.intake import services
from kesu.intake.models import ImportBatch
from kesu.intake.reports import write_issue_report


class Progress:
    """A one-line progress display on stderr (rows, rate), redrawn at most 4 times a second."""

    def __init__(self, stream, total_bytes: int) -> None:
        self.stream, self.total, self.t0, self.last = stream, total_bytes, time.monotonic(), 0.0

    def __call__(self, batch: ImportBatch) -> None:
        now = time.monotonic()
        if now - self.last < 0.25:
            return
        self.last = now
        # The same counts as the summary at the end (`ImportBatch.summary`): data rows exclude the
        # ignored ones (blank, totals and signature rows), which are shown on their own.
        rate = (batch.total_rows + batch.ignored) / max(now - self.t0, 1e-6)
        self.stream.write(
            f"\r数据行 {batch.total_rows:>9}  新建 {batch.created}  更新 {batch.updated}  "
            f"无变化 {batch.unchanged}  拒绝 {batch.rejected}  忽略 {batch.ignored}  {rate:,.0f} 行/秒"
        )
        self.stream.flush()


class Command(BaseCommand):
    help = "导入 CSV/XLSX 投诉数据（按来源保存的列映射）"

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--source", required=True, help="来源编码（ImportSource.code）")
        parser.add_argument("--validate", action="store_true", help="只校验、出报告，不写入")
        parser.add_argument(
            "--mapping", help="JSON 文件：{name, mapping, value_maps, defaults}，保存到该来源"
        )
        parser.add_argument("--chunk-size", type=int, default=services.DEFAULT_CHUNK_SIZE)
        parser.add_argument("--sheet", help="XLSX 工作表名（默认第一个）")
        parser.add_argument("--report", help="把拒绝明细写入此文件（.xlsx 或 .csv）")
        parser.add_argument("--user", help="以哪个用户的名义导入")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        if opts["mapping"]:
            try:
                spec = json.loads(Path(opts["mapping"]).read_text(encoding="utf-8"))
                services.save_source(
                    opts["source"],
                    name=spec.get("name"),
                    mapping=spec.get("mapping"),
                    value_maps=spec.get("value_maps"),
                    defaults=spec.get("defaults"),
                    options=spec.get("options"),
                )
            except (OSError, ValueError) as exc:
                raise CommandError(f"无法读取列映射文件 {opts['mapping']}：{exc}")
            except DomainError as exc:
                raise CommandError(f"列映射有误：{exc.message}")
        try:
            services.get_source(opts["source"])
        except DomainError as exc:
            raise CommandError(f"{exc.message}（请用 --mapping 创建该来源，或检查来源编码）")
        actor = None
        if opts["user"]:
            actor = get_user_model().objects.filter(username=opts["user"]).first()
            if actor is None:
                raise CommandError(f"用户 {opts['user']} 不存在")
        progress = Progress(sys.stderr, path.stat().st_size) if sys.stderr.isatty() else None
        batch = services.run_import(
            opts["source"],
            path,
            mode="validate" if opts["validate"] else "commit",
            actor=actor,
            chunk_size=opts["chunk_size"],
            sheet=opts["sheet"],
            progress=progress,
        )
        if progress:
            sys.stderr.write("\n")
        self.stdout.write(
            f"批次 #{batch.pk}（{batch.get_mode_display()}，{batch.get_state_display()}）：{batch.summary()}"
        )
        if opts["report"]:
            out = Path(opts["report"])
            with open(out, "wb") as f:
                n = write_issue_report(batch, out.suffix.lstrip(".").lower() or "xlsx", f)
            self.stdout.write(f"问题明细 {n} 条已写入 {out}")
        if batch.state != ImportBatch.State.COMPLETED:
            raise CommandError(
                f"导入失败：{batch.error}（再次运行同一文件将从第 {batch.chunks_committed + 1} 个分块续传）"
            )
