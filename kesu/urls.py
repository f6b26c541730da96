from django.contrib import admin
from django.urls import include, path, re_path

from kesu.api import api, not_found_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    re_path(r"^api/", not_found_view),  # unknown API URLs answer JSON 404
    path("i18n/", include("django.conf.urls.i18n")),
    path("analytics/", include("kesu.analytics.urls")),
    path("", include("kesu.web.urls")),
]
