from django.apps import AppConfig


class InsightConfig(AppConfig):
    name = "kesu.insight"
    label = "insight"
