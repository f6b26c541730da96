from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "kesu.analytics"
    label = "analytics"
