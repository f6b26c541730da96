"""The declared permission matrix: role × department scope × action, for every API operation and web view.

`tests/trust/test_permission_matrix.py` enumerates every operation of the API (`kesu.api.api`) and every
URL of the web UI (`kesu.web.urls`, `kesu.analytics.urls`) and, for each, tries each role from inside and
from outside the case's department, asserting the outcome declared here. An endpoint or view without an
entry fails that test, so a new endpoint cannot ship without a decision about who may use it.

Rules (see `expected`):
- `PUBLIC`: no login needed (the complainant portal, the login page).
- `SIGNED`: authenticated by an HMAC signature, not by a person; refused without one.
- `STAFF`: any logged-in person (their own account, inbox, reference data).
- `Roles(...)`: only these roles, in any department.
- `CASE_READ`: whoever may see the case — company-wide roles, people of the responsible department
  (a department head: and its sub-departments); whistle-blowing reports only risk/compliance.
- `CaseRoles(...)`: may see the case *and* holds one of the roles.
- `Action(name)`: the transition table (`kesu.cases.transitions.TRANSITIONS`): the action's roles, the case
  must be visible, and for scope "department" the actor must work in the responsible department unless
  a management role makes them company-wide for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kesu.cases import permissions as case_permissions
from kesu.cases.transitions import TRANSITIONS
from kesu.org import roles as r


@dataclass(frozen=True)
class Rule:
    kind: str
    roles: frozenset[str] = frozenset()
    action: str = ""


PUBLIC = Rule("public")
SIGNED = Rule("signed")
STAFF = Rule("staff")
CASE_READ = Rule("case_read")


def Roles(*codes: str) -> Rule:  # noqa: N802 - reads like a constructor in the tables below
    return Rule("roles", frozenset(codes))


def CaseRoles(*codes: str) -> Rule:  # noqa: N802
    return Rule("case_roles", frozenset(codes))


def Action(name: str) -> Rule:  # noqa: N802
    return Rule("action", action=name)


INTAKE_ROLES = (r.INTAKE, r.SUPERVISOR, r.CS_MANAGER, r.ADMIN)
ANALYSIS_ROLES = (r.ANALYST, r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER, r.DEPT_HEAD, r.ADMIN)
OVERSIGHT = (r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER, r.ANALYST, r.ADMIN)
ALL = tuple(r.ALL_ROLES)
REGISTER_ROLES = tuple(sorted(case_permissions.REGISTER_ROLES))
REVEAL_ROLES = (
    r.INTAKE,
    r.HANDLER,
    r.DEPT_HEAD,
    r.SUPERVISOR,
    r.CS_MANAGER,
    r.GENERAL_MANAGER,
    r.FOLLOWUP,
    r.RISK,
    r.ARCHIVIST,
    r.ADMIN,
)

# Case actions exposed by the API as POST /api/v1/cases/{number}/<action> (system actions run only from
# the task worker; `attach` is the attachments endpoint).
_ACTION_OPS = {
    f"POST /api/v1/cases/{{number}}/{name}": Action(name)
    for name, spec in TRANSITIONS.items()
    if spec.scope != "system" and name not in ("attach", "add_archive_material")
}

API: dict[str, Rule] = {
    # The same rule as the web intake form (kesu.cases.permissions.REGISTER_ROLES, enforced by register_case).
    "POST /api/v1/cases": Roles(*REGISTER_ROLES),
    "GET /api/v1/cases": STAFF,
    "GET /api/v1/cases/{number}": CASE_READ,
    **_ACTION_OPS,
    "POST /api/v1/cases/{number}/attachments": Action("attach"),
    "POST /api/v1/cases/{number}/archive-materials": Action("add_archive_material"),
    # The library lists only the cases the reader may see (never reports), personal data masked.
    "GET /api/v1/cases/library/typical": STAFF,
    "GET /api/v1/cases/{number}/attachments/{attachment_id}": CASE_READ,
    "GET /api/v1/org/departments": STAFF,
    "GET /api/v1/org/me": STAFF,
    "GET /api/v1/policy": STAFF,
    "GET /api/v1/policy/categories": STAFF,
    "GET /api/v1/policy/channels": STAFF,
    "GET /api/v1/sla/deadline": STAFF,
    "GET /api/v1/sla/cases/{number}/deadlines": CASE_READ,
    "GET /api/v1/sla/inbox": STAFF,
    "POST /api/v1/sla/inbox/read": STAFF,
    "GET /api/v1/sla/notices": Roles(r.ADMIN, r.SUPERVISOR, r.CS_MANAGER),
    "POST /api/v1/intake/batch": Roles(*INTAKE_ROLES),
    "POST /api/v1/intake/webhook/{source}": SIGNED,
    "POST /api/v1/intake/imports": Roles(*INTAKE_ROLES),
    "GET /api/v1/intake/imports/{batch_id}": Roles(*INTAKE_ROLES),
    "GET /api/v1/intake/imports/{batch_id}/report": Roles(*INTAKE_ROLES),
    # The mapping screen's steps: who may import may also keep the sources' mappings.
    "GET /api/v1/intake/sources": Roles(*INTAKE_ROLES),
    "POST /api/v1/intake/sources": Roles(*INTAKE_ROLES),
    "GET /api/v1/intake/sources/{code}": Roles(*INTAKE_ROLES),
    "PUT /api/v1/intake/sources/{code}": Roles(*INTAKE_ROLES),
    "POST /api/v1/intake/uploads": Roles(*INTAKE_ROLES),
    "GET /api/v1/intake/uploads/{upload_id}": Roles(*INTAKE_ROLES),  # the uploader's own file only
    "POST /api/v1/intake/uploads/{upload_id}/validate": Roles(*INTAKE_ROLES),
    "POST /api/v1/intake/uploads/{upload_id}/commit": Roles(*INTAKE_ROLES),
    "GET /api/v1/intake/exports/cases": STAFF,  # rows limited to the visible cases, PII masked by role
    "GET /api/v1/intake/exports/cases/{number}": CASE_READ,
    **{
        f"GET /api/v1/analytics/{name}": Roles(*ANALYSIS_ROLES)
        for name in (
            "definitions",
            "counts",
            "compare",
            "trend",
            "pareto",
            "heatmap",
            "kpis",
            "hotspots",
            "jrt",
            "measures",
            "reports",
        )
    },
    # 001 篇9 3.1.2: the general manager (improvement.approval_role of the general rules) approves.
    "POST /api/v1/analytics/measures/{measure_id}/approve": Roles(r.GENERAL_MANAGER),
    "POST /api/v1/insight/suggest": STAFF,
    "POST /api/v1/insight/feedback": CASE_READ,  # about one case
    "POST /api/v1/insight/related": STAFF,
    "GET /api/v1/insight/cases/{case_id}/related": CASE_READ,
    "GET /api/v1/insight/cases/{case_id}/suggestion": CASE_READ,
    "GET /api/v1/insight/similar/{number}": CASE_READ,
    "POST /api/v1/insight/risk": STAFF,
    "GET /api/v1/insight/model": Roles(*OVERSIGHT),
    "GET /api/v1/insight/models": Roles(*OVERSIGHT),
    "GET /api/v1/insight/warnings": Roles(*OVERSIGHT),
    "GET /api/v1/insight/group-alerts": Roles(*OVERSIGHT),
    "GET /api/v1/insight/forecast": Roles(*OVERSIGHT),
    "GET /api/v1/insight/topics": Roles(*OVERSIGHT),
    "POST /api/v1/trust/reveal": CaseRoles(*REVEAL_ROLES),
    "GET /api/v1/trust/audit": Roles(r.ADMIN),
    "GET /api/v1/trust/audit/verify": Roles(r.ADMIN),
    "POST /api/v1/trust/totp/enrol": Roles(),  # session only: refused to every bearer token
    "POST /api/v1/trust/totp/confirm": Roles(),
}

WEB: dict[str, Rule] = {
    "web:home": STAFF,
    "web:login": PUBLIC,
    "web:healthz": PUBLIC,  # the load balancer's and the monitoring's probe: database up or not, JSON
    "web:logout": STAFF,
    "web:password_change": STAFF,
    "web:password_change_done": STAFF,
    "web:queue_all": STAFF,
    "web:queue_mine": STAFF,
    "web:queue_dept": STAFF,
    "web:queue_unassigned": STAFF,
    "web:queue_approvals": STAFF,
    "web:queue_collab": STAFF,
    "web:queue_followups": STAFF,
    "web:queue_panels": STAFF,
    "web:queue_to_archive": STAFF,  # rows limited to the visible cases; in the archivist's menu
    "web:queue_access": STAFF,
    # POST: each checked case goes through perform, which refuses per case (the result page says why).
    "web:queue_bulk": STAFF,
    "web:view_save": STAFF,  # POST; sharing with the department: department heads and supervisors only
    "web:view_delete": STAFF,  # POST; only the owner's own views
    "web:case": CASE_READ,
    "web:case_similar": CASE_READ,  # the page's 相似已结案件 panel, loaded after it
    "web:case_action": Action("add_note"),  # the test posts add_note; every action goes through perform
    "web:attachment": CASE_READ,
    "web:case_reveal": CaseRoles(*REVEAL_ROLES),
    "web:archive_access_request": CASE_READ,
    "web:case_acknowledgement": CASE_READ,  # the printable 受理回执 of a case
    "web:notification_settings": STAFF,  # one's own notification preferences  # POST reason → request_archive_access (archived cases only)  # POST field + reason; audited by kesu.trust.privacy
    "web:account_totp": Roles(r.ADMIN),
    "web:intake": Roles(*REGISTER_ROLES),
    "web:intake_preview": Roles(*REGISTER_ROLES),
    "web:intake_risk": Roles(*REGISTER_ROLES),  # escalation phrases of the typed text: no case data
    # The import screen: the roles of the import API (kesu.intake.services.INTAKE_ROLES).
    "web:imports": Roles(*INTAKE_ROLES),
    "web:import_upload": Roles(*INTAKE_ROLES),  # the uploader's own file only (others: 404)
    "web:import_commit": Roles(*INTAKE_ROLES),
    "web:import_batch": Roles(*INTAKE_ROLES),
    "web:import_report": Roles(*INTAKE_ROLES),
    "web:import_source": Roles(*INTAKE_ROLES),
    "web:board": Roles(r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER, r.DEPT_HEAD, r.ADMIN),
    "web:typical_cases": STAFF,  # rows limited to the visible cases, never reports, PII masked
    "web:regulator_submissions": Roles(r.RISK, r.ARCHIVIST),  # the compliance register of 报送
    "web:inbox": STAFF,
    "web:inbox_read": STAFF,
    "web:portal_home": PUBLIC,
    "web:portal_privacy": PUBLIC,
    "web:portal_submit": PUBLIC,
    "web:portal_done": PUBLIC,
    "web:portal_progress": PUBLIC,
    "web:portal_report": PUBLIC,
    "web:portal_report_status": PUBLIC,
    **{
        f"analytics:{name}": Roles(*ANALYSIS_ROLES)
        for name in (
            "dashboard",
            "cases",
            "kpis",
            "hotspots",
            "jrt_export",
            "measures",
            "measure",
            "reports",
            "report_preview",
            "report_download",
        )
    },
    "analytics:measure_approve": Roles(r.GENERAL_MANAGER),  # POST
}


def _company_wide(role: str) -> bool:
    return role in r.COMPANY_WIDE_ROLES


def may_see_case(role: str, inside: bool, *, whistle: bool = False) -> bool:
    if whistle:
        return role == r.RISK
    return _company_wide(role) or inside


def expected(rule: Rule, role: str, inside: bool, *, whistle: bool = False) -> bool:
    """True when a person holding only `role`, working inside (or outside) the case's department, may
    use an endpoint governed by `rule`."""
    if rule.kind in ("public", "staff"):
        return True
    if rule.kind == "signed":
        return False
    if rule.kind == "roles":
        return role in rule.roles
    if rule.kind == "case_read":
        return may_see_case(role, inside, whistle=whistle)
    if rule.kind == "case_roles":
        return may_see_case(role, inside, whistle=whistle) and role in rule.roles
    if rule.kind == "action":
        spec = TRANSITIONS[rule.action]
        if not may_see_case(role, inside, whistle=whistle) or role not in spec.roles:
            return False
        if spec.scope == "department":
            managerial = role in {r.SUPERVISOR, r.CS_MANAGER, r.GENERAL_MANAGER, r.ADMIN}
            return managerial or inside
        return True
    raise ValueError(rule.kind)
