from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kesu.web"
    label = "web"

    def ready(self) -> None:
        from django.contrib import admin

        # The admin's start page shows the deadline engine's calendar notices (a year without its
        # official holiday schedule) above the usual list of models.
        if admin.site.index_template is None:
            admin.site.index_template = "web/admin_index.html"
