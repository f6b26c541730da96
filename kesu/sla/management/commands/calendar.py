"""`kesu calendar load FILE | deadline START DURATION [--explain] | show YEAR | notices`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "工作日历：录入年度放假安排、计算时限、查看日历与提示"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", required=True)
        load = sub.add_parser("load", help="录入一年的官方放假安排（TOML/JSON/CSV）")
        load.add_argument("file")
        load.add_argument("--no-recompute", action="store_true", help="不重算按推定日历计算的时限")
        dl = sub.add_parser("deadline", help='计算时限，如 "2026-09-30 17:00" "3 working days"')
        dl.add_argument("start")
        dl.add_argument("duration")
        dl.add_argument("--explain", action="store_true", help="列出跳过的日期及原因")
        dl.add_argument("--branch", help="机构编码（适用该机构的公司调整）")
        show = sub.add_parser("show", help="列出一年中的节假日与调休")
        show.add_argument("year", type=int)
        sub.add_parser("notices", help="管理员提示（未录入的年份等）")

    def handle(self, *args, **opts):
        return getattr(self, "do_" + opts["sub"])(opts) or ""

    def do_load(self, opts):
        from kesu.calendar.schedule_file import ScheduleError, read_schedule
        from kesu.errors import DomainError
        from kesu.sla.services import load_official_schedule

        try:
            year, holidays, workdays = read_schedule(opts["file"])
            result = load_official_schedule(
                year, holidays, workdays, note=f"file:{opts['file']}", recompute=not opts["no_recompute"]
            )
        except (OSError, ScheduleError, DomainError) as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            f"已录入 {result['year']} 年：放假 {result['holidays']} 天，调休上班 {result['workdays']} 天；"
            f"重算时限的案件 {result['recomputed_cases']} 件"
        )

    def _rules(self):
        from kesu.policy.models import Policy
        from kesu.policy.selectors import active_rules

        if not Policy.objects.exists():
            return None
        return active_rules()

    def do_deadline(self, opts):
        from kesu.calendar.workcalendar import format_instant, get_calendar, parse_duration, parse_instant

        try:
            start = parse_instant(opts["start"])
            duration = parse_duration(opts["duration"])
        except ValueError as exc:
            raise CommandError(str(exc))
        branch_id = None
        if opts.get("branch"):
            from kesu.org.models import Department

            dept = Department.objects.filter(code=opts["branch"]).first()
            if dept is None:
                raise CommandError(f"未知机构：{opts['branch']}")
            branch_id = dept.pk
        cal = get_calendar(branch_id, self._rules())
        result = cal.deadline(start, duration, explain=opts["explain"])
        self.stdout.write(format_instant(result.due))
        if opts["explain"]:
            self.stdout.write(f"起算：{format_instant(start)}（起算当日不计入），时限：{duration}")
            for line in result.explain:
                self.stdout.write("  " + line)
            self.stdout.write(f"到期：{format_instant(result.due)}")
        if result.fallback:
            years = "、".join(str(y) for y in result.fallback_years)
            self.stderr.write(f"注意：{years} 年官方放假安排尚未录入，结果按法定节日推定（不含调休）。")

    def do_show(self, opts):
        from kesu.calendar.models import CalendarDay, CalendarYear

        year = opts["year"]
        info = CalendarYear.objects.filter(year=year).first()
        self.stdout.write(f"{year} 年：{info.get_source_display() if info else '未录入（按法定节日推定）'}")
        for d in CalendarDay.objects.filter(date__year=year).select_related("branch").order_by("date"):
            scope = f" [{d.branch.code}]" if d.branch_id else (" [公司]" if d.is_override else "")
            self.stdout.write(
                f"{d.date} {'班' if d.is_workday else '休'} {d.get_kind_display()} {d.name}{scope}"
            )

    def do_notices(self, opts):
        from kesu.sla.selectors import calendar_notices

        notices = calendar_notices()
        for n in notices:
            self.stdout.write(f"[{n['level']}] {n['message']}")
        if not notices:
            self.stdout.write("工作日历无待处理事项")
