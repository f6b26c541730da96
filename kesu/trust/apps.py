from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrustConfig(AppConfig):
    """The audit chain, PII masking and reveal, retention and purge, backup and restore, login security."""

    name = "kesu.trust"
    label = "trust"
    verbose_name = _("安全与审计")

    def ready(self) -> None:
        from kesu.trust import signals  # noqa: F401 - connects the audit hooks (logins, permission changes)
