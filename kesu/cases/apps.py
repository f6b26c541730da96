from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "kesu.cases"
    label = "cases"
    verbose_name = _("投诉案件")
