"""The roles of a complaint department.

A role is a Django group whose name is the role code. Codes are stable (they
appear in policies: approval matrix, escalation chain); labels are translated.
"""

from django.utils.translation import gettext_lazy as _

INTAKE = "intake"
HANDLER = "handler"
DEPT_HEAD = "dept_head"
SUPERVISOR = "supervisor"
CS_MANAGER = "cs_manager"
GENERAL_MANAGER = "general_manager"
FOLLOWUP = "followup"
ANALYST = "analyst"
RISK = "risk"
ARCHIVIST = "archivist"
ADMIN = "admin"
# 董事长 / 董事局主席: receives the whistle-blowing reports about senior management (003 举报 第十一条).
CHAIRMAN = "chairman"

ROLE_LABELS = {
    INTAKE: _("受理员"),
    HANDLER: _("经办人"),
    DEPT_HEAD: _("部门负责人"),
    SUPERVISOR: _("投诉主管"),
    CS_MANAGER: _("客服经理"),
    GENERAL_MANAGER: _("总经理"),
    FOLLOWUP: _("回访员"),
    ANALYST: _("分析员"),
    RISK: _("风险合规专员"),
    ARCHIVIST: _("档案管理员"),
    ADMIN: _("系统管理员"),
    CHAIRMAN: _("董事长"),
}

ALL_ROLES = tuple(ROLE_LABELS)

# Roles that oversee every department rather than only their own.
COMPANY_WIDE_ROLES = frozenset({SUPERVISOR, CS_MANAGER, GENERAL_MANAGER, ANALYST, ADMIN, FOLLOWUP, ARCHIVIST})

# The management chain used for approvals and escalation, lowest first.
MANAGEMENT_CHAIN = (HANDLER, DEPT_HEAD, SUPERVISOR, CS_MANAGER, GENERAL_MANAGER)
