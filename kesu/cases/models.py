"""Complaints and everything that hangs off them.

A case's `status` and `version` are written only by `kesu.cases.services.perform`
(and by `register_case`, which creates the row). Events are append-only.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models.lookups import In
from django.utils.translation import gettext_lazy as _

from kesu.org.models import Department
from kesu.policy.models import Category, Channel, Policy

USER = settings.AUTH_USER_MODEL


class Kind(models.TextChoices):
    CONSULTATION = "consultation", _("咨询")
    QUERY = "query", _("查询")
    SUGGESTION = "suggestion", _("建议")
    COMPLAINT = "complaint", _("投诉")
    FAULT = "fault", _("故障报修")
    REPORT = "report", _("举报")


class Level(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")
    MAJOR = "major", _("重大")
    CRISIS = "crisis", _("危机")


class Status(models.TextChoices):
    REGISTERED = "registered", _("已登记")
    ACCEPTED = "accepted", _("已受理")
    ASSIGNED = "assigned", _("已分派")
    INVESTIGATING = "investigating", _("处理中")
    PENDING_APPROVAL = "pending_approval", _("待审批")
    RESPONDING = "responding", _("待答复")
    SUSPENDED = "suspended", _("暂结案")
    CLOSED = "closed", _("已结案")
    INVALID = "invalid", _("无效投诉")
    ANSWERED = "answered", _("当场答复")
    ARCHIVED = "archived", _("已归档")


OPEN_STATUSES = (
    Status.REGISTERED,
    Status.ACCEPTED,
    Status.ASSIGNED,
    Status.INVESTIGATING,
    Status.PENDING_APPROVAL,
    Status.RESPONDING,
)
FINISHED_STATUSES = (Status.CLOSED, Status.INVALID, Status.ANSWERED, Status.ARCHIVED)

# Open, or suspended with the clock stopped: the cases someone still owns (my queue, my department's).
ACTIVE_STATUSES = (*OPEN_STATUSES, Status.SUSPENDED)

_STATUS_CODE = re.compile(r"[a-z_]+")


class InlineIn(In):
    """`status__inline_in=[...]`: `IN ('a', 'b')` with the codes written into the SQL, not bound.

    SQLite uses a partial index only when the query's WHERE clause holds the index's predicate with
    the same literal values; Django binds `status__in` values as parameters, so the queues' partial
    indexes were never used there (the unassigned queue walked every case from the oldest, the
    department queue sorted all of its active cases: issue 19). Only plain status codes are written
    inline (anything else raises); PostgreSQL sees the same SQL as with the bound lookup."""

    lookup_name = "inline_in"

    def process_rhs(self, compiler, connection):
        codes = list(dict.fromkeys(str(v) for v in self.rhs))
        if not codes or not all(_STATUS_CODE.fullmatch(c) for c in codes):
            raise ValueError(f"inline_in takes status codes, not {self.rhs!r}")
        return "(" + ", ".join(f"'{c}'" for c in codes) + ")", ()


def _unassigned_q(lookup: str) -> models.Q:
    return models.Q(**{lookup: [Status.REGISTERED, Status.ACCEPTED]}) | models.Q(
        **{lookup: [Status.ASSIGNED, Status.INVESTIGATING]}, handler__isnull=True
    )


# 待分派, the unassigned queue (kesu.web): not yet accepted, or handed to a department without a handler.
# One definition for the queue and its partial index, so that PostgreSQL's planner proves the index's
# predicate from the query's WHERE clause (it does so only for the same expression). The queue filters
# with UNASSIGNED_INLINE_Q: the same expression with its codes inline, which SQLite needs as well.
UNASSIGNED_Q = _unassigned_q("status__in")
UNASSIGNED_INLINE_Q = _unassigned_q("status__inline_in")
# The partial indexes of my queue and my department's queue; the queues filter with ACTIVE_INLINE_Q.
ACTIVE_Q = models.Q(status__in=ACTIVE_STATUSES)
ACTIVE_INLINE_Q = models.Q(status__inline_in=ACTIVE_STATUSES)


class Customer(models.Model):
    name = models.CharField(_("姓名"), max_length=100, blank=True)
    # The lookup columns are indexed in Meta: a field's db_index would add a second, LIKE-prefix
    # (varchar_pattern_ops) index on PostgreSQL that no query uses, to be kept on every insert.
    name_normalized = models.CharField(max_length=100, blank=True, editable=False)
    phone = models.CharField(_("电话"), max_length=30, blank=True)
    email = models.EmailField(_("电子邮件"), blank=True)
    address = models.CharField(_("地址"), max_length=300, blank=True)
    id_number = models.CharField(_("证件号码"), max_length=40, blank=True)
    # The customer's relation numbers: policy / contract / order / account.
    policy_no = models.CharField(_("保单号/合同号"), max_length=60, blank=True)
    account_no = models.CharField(_("账号/订单号"), max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        indexes = [
            models.Index(fields=["name_normalized"], name="customer_name_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(fields=["id_number"], name="customer_id_number_idx"),
            models.Index(fields=["policy_no"], name="customer_policy_no_idx"),
            models.Index(fields=["account_no"], name="customer_account_no_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.phone or f"#{self.pk}"

    def save(self, *args, **kwargs) -> None:
        self.fill_normalized()
        super().save(*args, **kwargs)

    def fill_normalized(self) -> None:
        """The derived column (`save` fills it; a bulk insert calls this itself)."""
        self.name_normalized = "".join(self.name.split()).lower()


class Case(models.Model):
    # Unique by constraints in Meta (see there).
    number = models.CharField(_("案件编号"), max_length=24)
    # A registering client's retry key: unique per creator (per person; the anonymous portal's keys among
    # themselves), never looked up across creators, so one person's key cannot fetch another's case.
    client_key = models.CharField(max_length=100, null=True, blank=True)
    external_source = models.CharField(_("来源系统"), max_length=40, blank=True)
    external_id = models.CharField(_("外部编号"), max_length=100, null=True, blank=True)
    # SHA-256 of the registration request (kesu.cases.services.request_fingerprint): a retry under the
    # same client key / external id must carry the same body, otherwise it is refused (409), not merged.
    # Empty for rows written by the bulk importer, which has its own identity rules.
    request_hash = models.CharField(max_length=64, blank=True, default="")

    # db_index=False: the (customer, received_at) index in Meta serves "the cases of a customer" too.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    is_anonymous = models.BooleanField(_("匿名"), default=False)
    reporter_token_hash = models.CharField(max_length=64, blank=True, editable=False)

    channel = models.ForeignKey(Channel, verbose_name=_("渠道"), on_delete=models.PROTECT)
    # Indexed by (received_at, category) in Meta, which serves ranges on received_at alone too.
    received_at = models.DateTimeField(_("接收时间"))
    registered_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.COMPLAINT)
    category = models.ForeignKey(
        Category, verbose_name=_("分类"), null=True, blank=True, on_delete=models.PROTECT
    )
    business_type = models.CharField(_("业务类型"), max_length=40, blank=True)
    subject = models.CharField(_("标题"), max_length=200, blank=True)
    description = models.TextField(_("投诉内容"))
    demands = models.TextField(_("客户诉求"), blank=True)
    claimed_amount = models.DecimalField(
        _("诉求金额"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    people_count = models.PositiveIntegerField(_("投诉人数"), default=1)
    subject_no = models.CharField(_("涉及保单/合同/订单号"), max_length=60, blank=True)  # indexed in Meta
    product = models.CharField(_("产品"), max_length=100, blank=True)  # indexed in Meta
    region = models.CharField(_("地区"), max_length=40, blank=True)  # indexed in Meta
    branch = models.ForeignKey(
        Department,
        verbose_name=_("所属机构"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # 被投诉人 / 被投诉部门: whom the complaint is about, as the complainant names it (free text) and, once
    # identified, the staff member and unit. Not the responsible department: a complaint about a branch
    # teller is handled by the service department, yet counted against the branch (statistics by
    # respondent). Set at registration or later by the handler (`set_respondent`).
    respondent_name = models.CharField(_("被投诉人"), max_length=100, blank=True)
    respondent_staff = models.ForeignKey(
        USER,
        verbose_name=_("被投诉员工"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # partial index in Meta
    )
    respondent_department = models.ForeignKey(
        Department,
        verbose_name=_("被投诉部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # partial index in Meta
    )
    # 涉事人员: staff involved in the matter complained about besides the respondent — who sold the
    # policy, who handled the claim. Under a recusal rule (NFRA 回避) none of them, nor the respondent,
    # may handle, approve, review or sit on the panel of the case (kesu.cases.regulator.check_recusal).
    involved_staff = models.ManyToManyField(USER, verbose_name=_("涉事人员"), blank=True, related_name="+")
    # Flags that raise the level (001 篇9, 003).
    flag_injury = models.BooleanField(_("涉及人身伤害"), default=False)
    flag_safety = models.BooleanField(_("涉及安全"), default=False)
    flag_media = models.BooleanField(_("媒体介入"), default=False)
    flag_lawyer = models.BooleanField(_("律师介入"), default=False)
    # 直接投诉/越级投诉: made straight to head office or senior leaders (003 电信 受理要求: 越级投诉应给予
    # 高度重视，迅速生成工单并上报): graded up (grading.direct_level) so that every queue sorted by
    # level shows it first.
    flag_direct = models.BooleanField(_("直接投诉（总部/高层）"), default=False)
    # A whistle-blowing report about senior management goes to the chairman (003 举报 第十一条).
    flag_senior_management = models.BooleanField(_("涉及高级管理人员"), default=False)
    # The role such a report was routed to (the policy's recipient when it was flagged), who may read it.
    report_recipient_role = models.CharField(_("举报报送角色"), max_length=20, blank=True)
    # The company's own fault as judged at acceptance, as a level (normal/urgent/major): what a preset
    # grading by fault (grading.by = "fault", the hotel's 轻微/一般/重大) grades by instead of repeats.
    fault_level = models.CharField(_("过错程度"), max_length=10, blank=True)

    department = models.ForeignKey(
        Department,
        verbose_name=_("责任部门"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,  # (department, status) in Meta serves it; one index fewer to keep on every write
    )
    handler = models.ForeignKey(
        USER,
        verbose_name=_("经办人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handled_cases",
        db_index=False,  # (handler, status) in Meta serves it
    )
    # 首问负责: the person who first received the complaint stays accountable for it being passed on.
    first_responder = models.ForeignKey(
        USER,
        verbose_name=_("首问责任人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # partial index in Meta
    )

    level = models.CharField(
        _("等级"), max_length=10, choices=Level.choices, default=Level.NORMAL
    )  # indexed by (level, status, due_at) in Meta
    level_reasons = models.JSONField(_("定级依据"), default=list, blank=True)
    level_overridden = models.BooleanField(default=False)
    is_valid = models.BooleanField(_("有效投诉"), null=True)
    invalid_reason = models.CharField(_("无效原因"), max_length=40, blank=True)

    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.REGISTERED)
    status_before_suspension = models.CharField(max_length=20, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Not indexed: a handful of distinct values, never filtered on, and policy versions are never deleted.
    policy = models.ForeignKey(Policy, verbose_name=_("规则版本"), on_delete=models.PROTECT, db_index=False)

    closing_criterion = models.CharField(_("结案依据"), max_length=40, blank=True)
    is_special_closure = models.BooleanField(_("特殊结案"), default=False)
    replied_at = models.DateTimeField(_("答复时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True, db_index=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    last_contact_at = models.DateTimeField(_("最后联系客户时间"), null=True, blank=True)
    archived_at = models.DateTimeField(_("归档时间"), null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    repeat_count = models.PositiveSmallIntegerField(_("同事项投诉次数"), default=1)
    satisfaction = models.PositiveSmallIntegerField(_("满意度"), null=True, blank=True)

    # The binding deadline right now (earliest open stage), kept by kesu.sla for queues and filters.
    # Indexed with the id in Meta (case_due_id_idx): the queues' soonest-deadline order is (due_at, id).
    due_at = models.DateTimeField(_("当前时限"), null=True, blank=True)

    repeat_of = models.ForeignKey(
        "self",
        verbose_name=_("重复投诉于"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="repeats",
        db_index=False,  # partial index in Meta
    )
    reopened_from = models.ForeignKey(
        "self",
        verbose_name=_("续案自"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="continuations",
        db_index=False,  # partial index in Meta
    )
    # When the matter happened / the complainant knew of the harm: the regulator layers' time bars
    # (intake.time_bar) refuse a complaint brought too long after it.
    occurred_on = models.DateField(_("事项发生日期"), null=True, blank=True)
    known_on = models.DateField(_("知道权益受损日期"), null=True, blank=True)
    # The time the complainant asks to be answered by (001 篇8 六二）1: a hotel guest during the stay). Only
    # an SLA rule with `customer_time = true` reads it (kesu.sla.services.compute_stage).
    customer_due_at = models.DateTimeField(_("客人要求的解决时间"), null=True, blank=True)
    is_imported = models.BooleanField(_("历史导入"), default=False)
    is_confidential = models.BooleanField(_("保密"), default=False)

    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # partial index in Meta
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("投诉案件")
        verbose_name_plural = _("投诉案件")
        constraints = [
            # Constraints rather than unique=True: no LIKE-prefix twin index on PostgreSQL.
            models.UniqueConstraint(fields=["number"], name="case_number_unique"),
            models.UniqueConstraint(
                fields=["created_by", "client_key"],
                condition=models.Q(client_key__isnull=False, created_by__isnull=False),
                name="case_client_key_per_creator",
            ),
            # NULLs are distinct in a unique index: the anonymous portal's keys need their own.
            models.UniqueConstraint(
                fields=["client_key"],
                condition=models.Q(client_key__isnull=False, created_by__isnull=True),
                name="case_client_key_anonymous",
            ),
            models.UniqueConstraint(
                fields=["external_source", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="case_external_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(people_count__gte=1), name="case_people_count_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            # Partial where a column is empty on most rows (imported history, cases not yet routed):
            # a query for one department / person / case implies the column is set, so the index
            # still serves it, and rows without a value cost no index entry.
            models.Index(
                fields=["department", "status"],
                condition=models.Q(department__isnull=False),
                name="case_department_status_idx",
            ),
            models.Index(
                fields=["handler", "status"],
                condition=models.Q(handler__isnull=False),
                name="case_handler_status_idx",
            ),
            models.Index(
                fields=["first_responder"],
                condition=models.Q(first_responder__isnull=False),
                name="case_first_responder_idx",
            ),
            models.Index(
                fields=["created_by"],
                condition=models.Q(created_by__isnull=False),
                name="case_created_by_idx",
            ),
            models.Index(
                fields=["repeat_of"], condition=models.Q(repeat_of__isnull=False), name="case_repeat_of_idx"
            ),
            models.Index(
                fields=["reopened_from"],
                condition=models.Q(reopened_from__isnull=False),
                name="case_reopened_from_idx",
            ),
            models.Index(
                fields=["respondent_staff"],
                condition=models.Q(respondent_staff__isnull=False),
                name="case_respondent_staff_idx",
            ),
            models.Index(
                fields=["respondent_department"],
                condition=models.Q(respondent_department__isnull=False),
                name="case_respondent_dept_idx",
            ),
            # A customer's most recent complaints (grading's same-matter read): a bounded range, newest
            # first, however long the customer's history.
            models.Index(fields=["customer", "received_at"], name="case_customer_received_idx"),
            models.Index(fields=["subject_no"], name="case_subject_no_idx"),
            models.Index(fields=["product"], name="case_product_idx"),
            models.Index(fields=["region"], name="case_region_idx"),
            models.Index(fields=["received_at", "category"]),
            # The similar-cases panel (kesu.insight.similar.candidates): the newest finished cases of a
            # category, of a product. closed_at is set only on finished cases, so the indexes hold no
            # open case (registering one writes no entry here) and a walk reads only finished cases;
            # the trailing columns are what the walk filters on, so it reads the index alone.
            models.Index(
                fields=["category", "-closed_at", "-id", "status", "kind", "report_recipient_role"],
                condition=models.Q(closed_at__isnull=False),
                name="case_finished_category_idx",
            ),
            models.Index(
                fields=["product", "-closed_at", "-id", "status", "kind", "report_recipient_role"],
                condition=models.Q(closed_at__isnull=False),
                name="case_finished_product_idx",
            ),
            # Every case list is newest first (`-received_at, -id`, the API's cursor order): with this
            # index SQLite walks the newest cases and stops after a page, instead of joining channels
            # first and sorting every open case (API open queue at 100k: 115 → 2.4 ms on SQLite).
            models.Index(fields=["received_at", "id"], name="case_received_id_idx"),
            # The unassigned queue, oldest first: without it PostgreSQL walked (received_at, id) from the
            # oldest case and skipped every finished one before the first unassigned row, or sorted all
            # unassigned cases — a cost that grew with the history (1M against 100k cases: 4.84x). The
            # partial index holds only the unassigned cases, in the page's order: a page is its first rows.
            models.Index(fields=["received_at", "id"], condition=UNASSIGNED_Q, name="case_unassigned_idx"),
            # 我的案件 and 本部门案件, soonest deadline first: the partial indexes hold the active cases of a
            # handler / department in the page's order, so a page is the first rows of one range (NULLS LAST
            # is the index order on PostgreSQL; SQLite reads the NULL range after the rest). Without them
            # both databases sorted all of a department's active cases for each page (16k at 100k cases,
            # ten times as many at 1M: 1.92x the 100k cost on PostgreSQL).
            models.Index(
                fields=["department", "due_at", "id"], condition=ACTIVE_Q, name="case_dept_queue_idx"
            ),
            models.Index(
                fields=["handler", "due_at", "id"], condition=ACTIVE_Q, name="case_handler_queue_idx"
            ),
            # The workbench (kesu.web): the supervisor board's counts read only this index (covering),
            # its crisis/major and group-complaint lists are range scans (migration 0002).
            # report_recipient_role last: a reader who is not risk/compliance sees a whistle-blowing
            # report only when it was routed to their role (kesu.cases.permissions.visible_cases_q), so
            # the board's counts and the queue's capped count of open cases filter on it and, with it in
            # the index, read the index alone (at 1M cases on PostgreSQL the queue's count read the heap:
            # 9 ms against 0.3 ms index-only; queue22).
            models.Index(
                fields=[
                    "status",
                    "kind",
                    "department",
                    "level",
                    "due_at",
                    "people_count",
                    "report_recipient_role",
                ],
                name="case_board_cover_idx",
            ),
            # The queues in deadline order (`due_at, id`, NULLS LAST: finished cases have no deadline and
            # come last): the open queue's page is its first rows. It replaces the bare due_at index, which
            # left ties on due_at to a sort — working-day deadlines share their instant, and at 1M cases
            # PostgreSQL read and sorted 3,812 rows for a page of 30 (13 ms; 0.1 ms with the id; queue22).
            models.Index(fields=["due_at", "id"], name="case_due_id_idx"),
            models.Index(fields=["level", "status", "due_at"], name="case_level_status_due_idx"),
            # The board's crisis/major and group-complaint lists on PostgreSQL, soonest deadline first: the
            # open serious (or group) cases in the lists' order, so a list is the index's first 50 rows.
            # Without them PostgreSQL read every open crisis/major case through (level, status, due_at)
            # and sorted them (1M cases: 4,802 rows and heap pages for 50; queue22). Partial: only those
            # few cases have an entry. The group list's index serves a policy's group size of 5 or more.
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(level__in=["crisis", "major"], status__in=OPEN_STATUSES),
                name="case_open_serious_due_idx",
            ),
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(people_count__gte=5, status__in=OPEN_STATUSES),
                name="case_open_group_due_idx",
            ),
            models.Index(fields=["people_count", "status"], name="case_people_status_idx"),
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class CaseEvent(models.Model):
    """One entry of a case's timeline. Never updated, never deleted; chained by hash per case."""

    # db_index=False: the unique (case, seq) constraint is the index for "the events of a case".
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    # Indexed in Meta where set: imports and the system act without a person.
    actor = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    # Not indexed alone: timelines read by (case, seq), escalation lists by (action, created_at).
    created_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    # Shown to the complainant in the portal (status changes, replies), never notes or staff names.
    is_public = models.BooleanField(default=False)
    # The case's hash chain (kesu.cases.chain): the previous event's hash and this event's, set when
    # the row is written. Not indexed: read by (case, seq).
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("案件事件")
        verbose_name_plural = _("案件事件")
        constraints = [models.UniqueConstraint(fields=["case", "seq"], name="case_event_seq_unique")]
        # The supervisor board's latest escalations (kesu.web, migration 0002).
        indexes = [
            models.Index(fields=["action", "created_at"], name="caseevent_action_created_idx"),
            models.Index(
                fields=["actor"], condition=models.Q(actor__isnull=False), name="caseevent_actor_idx"
            ),
        ]
        ordering = ["case", "seq"]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise RuntimeError("case events are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("case events are never deleted")


class DailySequence(models.Model):
    """Gap-free per-day counter for case numbers (TS + yyyymmdd + nnnn)."""

    day = models.DateField(unique=True)
    last = models.PositiveIntegerField(default=0)


class Attachment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    original_name = models.CharField(max_length=255)
    stored_name = models.CharField(max_length=100, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Material added to an archived case (诉讼/媒体材料, `add_archive_material`); blank for ordinary evidence.
    archive_material = models.CharField(max_length=20, blank=True)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")


class CollaborationRequest(models.Model):
    """协办: the responsible department asks another department for facts or an opinion."""

    class State(models.TextChoices):
        # Where the policy needs the supervisor's approval ([collaboration] approval_role, 003 恒康天安
        # 第六条(四)): proposed until approved; the other department sees it only once open.
        PROPOSED = "proposed", _("待审批")
        REJECTED = "rejected", _("未获批准")
        OPEN = "open", _("待回复")
        ANSWERED = "answered", _("已回复")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="collaborations")
    from_department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    to_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="collaboration_requests"
    )
    question = models.TextField()
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    # The supervisor's decision on a proposed request (approved or not), with their reason.
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)


class PanelReview(models.Model):
    """合议: a panel of colleagues decides a major case; minutes are confirmed by every participant."""

    class State(models.TextChoices):
        # Where the policy needs the supervisor's approval ([panel] approval_role, 003 恒康天安 第七条(一)):
        # proposed by the handler until the supervisor approves; the members are invited once convened.
        PROPOSED = "proposed", _("待审批")
        REJECTED = "rejected", _("未获批准")
        CONVENED = "convened", _("已召集")
        DECIDED = "decided", _("已决议")
        CONFIRMED = "confirmed", _("纪要已确认")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="panel_reviews")
    topic = models.CharField(max_length=200)
    convened_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    convened_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.CONVENED)
    minutes = models.TextField(blank=True)
    decision = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # When the panel met (recorded with the decision; the meeting may precede its minutes by days).
    meeting_at = models.DateTimeField(null=True, blank=True)
    # 主持人: the supervisor chairs the panel (003 恒康天安 第七条(四)3), by default the one who approved it.
    chair = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The supervisor's decision on a proposed panel (approved or not), with their reason.
    approved_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_note = models.TextField(blank=True)
    # 初步意见: when the panel cannot settle on the day, a preliminary, leaning opinion meanwhile
    # (第七条(四)4), the final one within the panel deadline (第八条(四), the `panel_decision` stage).
    preliminary_opinion = models.TextField(blank=True)
    preliminary_at = models.DateTimeField(null=True, blank=True)


class PanelParticipant(models.Model):
    review = models.ForeignKey(PanelReview, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    opinion = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "user"], name="panel_participant_unique")]


class RemedyType(models.TextChoices):
    REFUND = "refund", _("退款")
    EXCHANGE = "exchange", _("换货")
    REPAIR = "repair", _("维修")
    DISCOUNT = "discount", _("折扣")
    COMPENSATION = "compensation", _("赔偿")
    EXPLANATION = "explanation", _("解释说明")
    TERMINATION = "termination", _("协议解除")
    # 003 恒康天安 第四条(二)–(六): insurance measures with their own approvers, offered only where the
    # policy names them (`approval.remedy_roles`).
    CHANGE_AGENT = "change_agent", _("变更服务人员/代理人")
    LATE_FEE_WAIVER = "late_fee_waiver", _("免滞纳金")
    PREMIUM_REVERSAL = "premium_reversal", _("回调保费")
    ADVANCE_PAYMENT = "advance_payment", _("公司垫付")
    COMMISSION_FREEZE = "commission_freeze", _("冻结/解冻代理人佣金或押金")
    SPECIAL_CLOSURE = "special_closure", _("特殊结案申请")


# Remedies that exist only where the policy names their approvers (RemedyType above).
ROLE_BOUND_REMEDIES = frozenset(
    {
        RemedyType.CHANGE_AGENT,
        RemedyType.LATE_FEE_WAIVER,
        RemedyType.PREMIUM_REVERSAL,
        RemedyType.ADVANCE_PAYMENT,
        RemedyType.COMMISSION_FREEZE,
    }
)


class Proposal(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("审批中")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", _("已驳回")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="proposals")
    remedy_type = models.CharField(max_length=20, choices=RemedyType.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    premium = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # 现金价值 of the policy (003 恒康天安 第四条(一)): the approval limits of a 协议解约 apply to the part of
    # the amount above it. None: not given, the whole amount counts as above it.
    cash_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    description = models.TextField()
    proposed_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    required_roles = models.JSONField(default=list)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)

    @property
    def next_role(self) -> str | None:
        done = self.steps.filter(decision=ApprovalStep.Decision.APPROVED).count()
        return self.required_roles[done] if done < len(self.required_roles) else None


class ApprovalStep(models.Model):
    class Decision(models.TextChoices):
        APPROVED = "approved", _("同意")
        REJECTED = "rejected", _("驳回")

    proposal = models.ForeignKey(Proposal, on_delete=models.PROTECT, related_name="steps")
    step = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=30)
    approver = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["proposal", "step"], name="approval_step_unique")]
        ordering = ["proposal", "step"]


class FollowUp(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="follow_ups")
    agent = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    contacted_at = models.DateTimeField()
    score = models.PositiveSmallIntegerField()
    satisfied = models.BooleanField()
    comment = models.TextField(blank=True)


class Accountability(models.Model):
    """责任追究: a penalty proposed by the rules, confirmed or waived by a supervisor."""

    class State(models.TextChoices):
        PROPOSED = "proposed", _("待确认")
        CONFIRMED = "confirmed", _("已确认")
        WAIVED = "waived", _("已免除")
        # The case was judged invalid before the proposal was decided: penalties apply only to valid,
        # verified complaints (000 第2篇 第九条).
        WITHDRAWN = "withdrawn", _("已撤回")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="accountabilities")
    person = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="accountabilities")
    supervisor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=40)  # graded / breach:<stage>
    basis = models.CharField(max_length=60)  # level:major / channel:media
    person_amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    supervisor_amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    reminder = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PROPOSED)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # The public-relations cost entered at confirmation when the rule fines a share of it (000 第2篇 第九条二3).
    pr_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "person", "reason"], name="accountability_once_per_reason"
            )
        ]


class ArchiveAccessRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("待审批")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", _("已拒绝")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="archive_requests")
    requester = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    requested_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)


class ArchiveMaterial(models.TextChoices):
    """What kind of material may be added to an archived case."""

    LAWSUIT = "lawsuit", _("诉讼材料")
    MEDIA = "media", _("媒体报道材料")
    REGULATOR = "regulator", _("监管往来材料")


class RegulatorSubmission(models.Model):
    """报送: an archived file sent to a regulator, filed with compliance (who, to whom, when, what)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="regulator_submissions")
    regulator = models.CharField(_("报送单位"), max_length=200)
    sent_at = models.DateTimeField(_("报送时间"))
    contents = models.TextField(_("报送内容"))
    sent_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"))

    class Meta:
        verbose_name = _("监管报送")
        verbose_name_plural = _("监管报送")
        ordering = ["-sent_at", "-pk"]


class TypicalCase(models.Model):
    """典型案例: a finished case chosen for the case library with the lesson it teaches (003 第三条(二)7)."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="typical")
    lesson = models.TextField(_("经验教训"))
    marked_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    marked_at = models.DateTimeField(_("入库时间"))

    class Meta:
        verbose_name = _("典型案例")
        verbose_name_plural = _("典型案例")
        ordering = ["-marked_at", "-pk"]


class EmergencyPlan(models.Model):
    """应急预案 of a crisis case (000 第2篇 第六条): who leads, the measures, the contacts."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="emergency_plan")
    leader = models.ForeignKey(USER, verbose_name=_("负责人"), on_delete=models.PROTECT, related_name="+")
    measures = models.TextField(_("应急措施"))
    contacts = models.TextField(_("联络人及联系方式"))
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("记录时间"))

    class Meta:
        verbose_name = _("应急预案")
        verbose_name_plural = _("应急预案")


class IdempotencyRecord(models.Model):
    """Remembers an `Idempotency-Key` so that a retried create returns the first result."""

    key = models.CharField(max_length=200)
    user = models.ForeignKey(USER, null=True, on_delete=models.CASCADE)
    request_hash = models.CharField(max_length=64)
    case = models.ForeignKey(Case, null=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "user"], name="idempotency_key_unique")]


# `status__inline_in` (the queues' partial-index predicates, written inline for SQLite).
Case._meta.get_field("status").register_lookup(InlineIn)
