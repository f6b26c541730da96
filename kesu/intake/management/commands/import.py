"""`kesu import FILE --source NAME [--validate] [--mapping mapping.json] [--report rejects.xlsx]`,
`kesu import FILE [--source NAME] --describe` and `kesu import FILE --source NAME --initial-load`.

The mapping format, the source options and an example per common source: docs/import.md.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kesu.errors import DomainError
from kesu.intake import services
from kesu.intake.describe import describe_file
from kesu.intake.initial import initial_load
from kesu.intake.models import ImportBatch
from kesu.intake.parsers import FileFormatError
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


DOCS = "docs/import.md"


class Command(BaseCommand):
    help = (
        "导入 CSV/XLSX 投诉数据（按来源保存的列映射）。列映射格式、来源选项和各类来源的完整示例见 "
        f"{DOCS}（The mapping format, source options and examples: {DOCS}）。"
        "先用 --describe 查看文件的列、样例值和建议的映射。"
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--source", help="来源编码（ImportSource.code）；--describe 时可省略")
        parser.add_argument("--validate", action="store_true", help="只校验、出报告，不写入")
        parser.add_argument(
            "--mapping",
            help=f"JSON 文件：{{name, mapping, value_maps, defaults, options}}，保存到该来源（格式见 {DOCS}）",
        )
        parser.add_argument(
            "--describe",
            action="store_true",
            help="不导入：列出文件的列、样例值，并输出建议的映射 JSON（可存为 --mapping 文件）",
        )
        parser.add_argument(
            "--initial-load",
            action="store_true",
            help="初始迁移：仅用于空库，导入期间删除二级索引、导入后重建，全部成功或全部撤销",
        )
        parser.add_argument(
            "--yes-i-know-the-tables-are-not-empty",
            action="store_true",
            dest="allow_non_empty",
            help="确认在已有案件的库上执行 --initial-load",
        )
        parser.add_argument("--chunk-size", type=int, default=services.DEFAULT_CHUNK_SIZE)
        parser.add_argument("--sheet", help="XLSX 工作表名（默认第一个）")
        parser.add_argument("--report", help="把拒绝明细写入此文件（.xlsx 或 .csv）")
        parser.add_argument("--user", help="以哪个用户的名义导入")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        if opts["describe"]:
            return self._describe(path, opts)
        if not opts["source"]:
            raise CommandError("请用 --source 指定来源编码（或用 --describe 先查看文件）")
        if opts["allow_non_empty"] and not opts["initial_load"]:
            raise CommandError("--yes-i-know-the-tables-are-not-empty 只能与 --initial-load 一起使用")
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
        if opts["initial_load"]:
            if opts["validate"]:
                raise CommandError("--initial-load 不能与 --validate 同用（先单独 --validate）")
            try:
                batch = initial_load(
                    opts["source"],
                    path,
                    actor=actor,
                    allow_non_empty=opts["allow_non_empty"],
                    chunk_size=opts["chunk_size"],
                    sheet=opts["sheet"],
                    progress=progress,
                )
            except DomainError as exc:
                raise CommandError(exc.message)
        else:
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
            if opts["initial_load"]:
                raise CommandError(f"导入失败：{batch.error}")
            raise CommandError(
                f"导入失败：{batch.error}（再次运行同一文件将从第 {batch.chunks_committed + 1} 个分块续传）"
            )

    def _describe(self, path: Path, opts) -> None:
        """The file's columns with sample values on stderr; the proposed mapping document (JSON, the
        `--mapping` format plus the column list) on stdout, to save, edit and import with."""
        source = None
        if opts["source"]:
            try:
                source = services.get_source(opts["source"])
            except DomainError:
                source = None  # a new source: propose from the built-in names and the values
        try:
            doc = describe_file(path, source=source, sheet=opts["sheet"])
        except FileFormatError as exc:
            raise CommandError(str(exc))
        info = doc["file"]
        self.stderr.write(
            f"{info['name']}（{info['format']}{'，' + info['encoding'] if info['encoding'] else ''}）："
            f"表头在第 {'、'.join(map(str, info['header_rows']))} 行，读取前 {info['rows_scanned']} 行数据"
        )
        for col in doc["columns"]:
            target = f" → {col['field']}（{col['how']}）" if col["field"] else ""
            samples = "、".join(col["samples"][:3])
            self.stderr.write(f"  [{col['index'] + 1}] {col['name'] or '（无列名）'}{target}：{samples}")
        if doc["missing_required"]:
            self.stderr.write("尚未映射的必需字段：" + "、".join(doc["missing_required"]))
        for field, values in doc["unmapped_values"].items():
            self.stderr.write(f"需要代码映射（value_maps.{field}）：" + "、".join(values[:20]))
        self.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2))
