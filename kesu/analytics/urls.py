from django.urls import path

from kesu.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("cases/", views.case_list, name="cases"),
    path("kpis/", views.kpi_page, name="kpis"),
    path("hotspots/", views.hotspots, name="hotspots"),
    path("measures/", views.measures, name="measures"),
    path("measures/<int:pk>/", views.measure_detail, name="measure"),
    path("measures/<int:pk>/approve/", views.measure_approve, name="measure_approve"),
    path("reports/", views.report_archive, name="reports"),
    path("reports/preview/", views.report_preview, name="report_preview"),
    path("reports/<int:pk>/", views.report_download, name="report_download"),
    path("jrt/", views.jrt_export, name="jrt_export"),
]
