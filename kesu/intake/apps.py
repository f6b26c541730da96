from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "kesu.intake"
    label = "intake"
