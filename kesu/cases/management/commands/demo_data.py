"""`kesu demo-data [--cases N] [--seed S] [--preset insurance] [--first M]`: a living demo company.

Builds the organisation of a fictitious insurer (华诚保险) and registers a year of complaints
through the real services, so timelines, levels and deadlines are true. Running it again does
not duplicate anything: it notices the demo data and says so. With `--first M` (what `make demo`
does) it registers a sample of M complaints spread over the year and returns, and the task worker
registers the others in the background through the same services (kesu.cases.demo.tasks).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kesu.cases.demo import company, load, tasks


class Command(BaseCommand):
    help = "Load the demo company (departments, staff in every role) and a year of complaints (idempotent)"

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=1500, help="number of complaints (default 1500)")
        parser.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
        parser.add_argument(
            "--preset",
            default=company.DEMO_PRESET,
            help="policy preset loaded when no policy is active yet (default insurance)",
        )
        parser.add_argument(
            "--first",
            type=int,
            default=None,
            help="load a sample of this many complaints (spread over the year) now and leave the rest "
            "to the task worker (`make demo`: the server answers while the rest loads)",
        )

    def handle(self, *args, cases: int, seed: int, preset: str, first: int | None, **options):
        from kesu.policy.loader import PolicyError
        from kesu.policy.selectors import NoActivePolicy, active_policy
        from kesu.policy.services import load_preset

        if cases < 0:
            raise CommandError("--cases must not be negative")
        if first is not None and first < 0:
            raise CommandError("--first must not be negative")
        try:
            policy = active_policy()
            self.stdout.write(f"规则：{policy.name}（版本 {policy.version}，已启用）")
        except NoActivePolicy:
            try:
                policy = load_preset(preset)
            except PolicyError as exc:
                raise CommandError("\n".join(exc.errors))
            self.stdout.write(f"规则：已加载预设 {preset} —— {policy.name}（版本 {policy.version}）")

        existing = load.demo_case_count()
        if existing >= cases and existing > 0:
            company.ensure_org()
            self.stdout.write(
                self.style.WARNING(
                    f"演示数据已存在（{existing} 件投诉），未重复加载。demo data already loaded."
                )
            )
            self._print_logins()
            return

        started = time.monotonic()
        self.stdout.write(f"{company.COMPANY_NAME}：建立组织机构和人员 …")
        company.ensure_org()
        now = timezone.now()
        if first is not None and first < cases:
            self.stdout.write(f"登记并处理 {cases} 件投诉（近一年）中的 {first} 件，其余由后台任务继续 …")
        else:
            first = None
            self.stdout.write(f"登记并处理 {cases} 件投诉（近一年）…")

        def progress(done: int, total: int) -> None:
            if done == total or done % 500 == 0:
                self.stdout.write(f"  {done}/{total}  {time.monotonic() - started:.0f}s")

        report = load.load_demo_cases(cases, seed=seed, now=now, progress=progress, first=first)
        if report.deferred:
            # After the load: its clean-up of made-up notifications must not meet the chunk's task.
            tasks.enqueue_rest(cases, seed, now, first)
        took = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"完成：新建 {report.created} 件，已存在 {report.existing} 件，用时 {took:.0f} 秒。"
            )
        )
        from kesu.cases.models import Status

        labels = dict(Status.choices)
        self.stdout.write(
            "状态分布："
            + "，".join(
                f"{labels.get(k, k)} {v}" for k, v in sorted(report.statuses.items(), key=lambda kv: -kv[1])
            )
        )
        if report.errors or report.failed:
            self.stdout.write(
                self.style.WARNING(f"有 {sum(report.errors.values())} 个步骤未能执行（案件停留在当前状态）：")
            )
            for message, n in report.errors.most_common(10):
                self.stdout.write(f"  {n:5d} × {message}")
        if report.deferred:
            self.stdout.write(
                self.style.WARNING(
                    f"其余 {report.deferred} 件投诉由后台任务进程（kesu serve / kesu worker）继续登记和处理，"
                    f"每批 {tasks.CHUNK} 件；进度见 var/worker.log。"
                    f" The other {report.deferred} complaints load in the background task worker."
                )
            )
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(f"演示账号 demo logins（密码 password: {company.DEMO_PASSWORD}）")
        for username, password, name, role in company.demo_logins():
            self.stdout.write(f"  {username:<12} {password:<16} {name:<6} {role}")
