"""URLs of the web workbench and the public complainant portal."""

from django.contrib.auth import views as auth_views
from django.urls import path

from kesu.trust.security import KesuAuthenticationForm
from kesu.web import health, imports, portal, trust_views, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html",
            redirect_authenticated_user=True,
            authentication_form=KesuAuthenticationForm,  # lockout message + TOTP (kesu.trust.security)
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="web/password_change.html", success_url="/password/done/"
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="web/password_change_done.html"),
        name="password_change_done",
    ),
    path("cases/", views.queue, {"queue": "all"}, name="queue_all"),
    path("queues/mine/", views.queue, {"queue": "mine"}, name="queue_mine"),
    path("queues/department/", views.queue, {"queue": "dept"}, name="queue_dept"),
    path("queues/unassigned/", views.queue, {"queue": "unassigned"}, name="queue_unassigned"),
    path("queues/approvals/", views.queue, {"queue": "approvals"}, name="queue_approvals"),
    path("queues/collaboration/", views.queue, {"queue": "collab"}, name="queue_collab"),
    path("queues/follow-ups/", views.queue, {"queue": "followups"}, name="queue_followups"),
    path("queues/panels/", views.queue, {"queue": "panels"}, name="queue_panels"),
    path("queues/to-archive/", views.queue, {"queue": "to_archive"}, name="queue_to_archive"),
    path("queues/archive-access/", views.queue, {"queue": "access"}, name="queue_access"),
    path("queues/bulk/", views.queue_bulk, name="queue_bulk"),
    path("queues/views/save/", views.view_save, name="view_save"),
    path("queues/views/delete/", views.view_delete, name="view_delete"),
    path("cases/<str:number>/", views.case_detail, name="case"),
    path("cases/<str:number>/similar/", views.case_similar, name="case_similar"),
    path("cases/<str:number>/acknowledgement/", views.case_acknowledgement, name="case_acknowledgement"),
    path("cases/<str:number>/act/<str:action>/", views.case_action, name="case_action"),
    path(
        "cases/<str:number>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    path("cases/<str:number>/reveal/", trust_views.case_reveal, name="case_reveal"),
    path("cases/<str:number>/archive-access/", views.archive_access_request, name="archive_access_request"),
    path("account/totp/", trust_views.account_totp, name="account_totp"),
    path("intake/", views.intake, name="intake"),
    path("intake/preview/", views.intake_preview, name="intake_preview"),
    path("intake/risk/", views.intake_risk, name="intake_risk"),
    path("board/", views.board, name="board"),
    # the import screen (数据导入): upload → mapping → validate → import → report; saved sources
    path("imports/", imports.index, name="imports"),
    path("imports/uploads/<int:pk>/", imports.upload_mapping, name="import_upload"),
    path("imports/uploads/<int:pk>/commit/", imports.upload_commit, name="import_commit"),
    path("imports/batches/<int:pk>/", imports.batch_detail, name="import_batch"),
    path("imports/batches/<int:pk>/report/", imports.batch_report, name="import_report"),
    path("imports/sources/<int:pk>/", imports.source_edit, name="import_source"),
    path("typical-cases/", views.typical_cases, name="typical_cases"),
    path("regulator-submissions/", views.regulator_submissions, name="regulator_submissions"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/read/", views.inbox_read, name="inbox_read"),
    path("account/notifications/", views.notification_settings, name="notification_settings"),
    # the public complainant portal (no login)
    path("portal/", portal.home, name="portal_home"),
    path("portal/privacy/", portal.privacy, name="portal_privacy"),
    path("portal/submit/", portal.submit, name="portal_submit"),
    path("portal/done/", portal.done, name="portal_done"),
    path("portal/progress/", portal.progress, name="portal_progress"),
    path("portal/report/", portal.report, name="portal_report"),
    path("portal/report/status/", portal.report_status, name="portal_report_status"),
]
