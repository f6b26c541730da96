from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PolicyConfig(AppConfig):
    name = "kesu.policy"
    label = "policy"
    verbose_name = _("投诉规则")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from kesu.policy.models import Category, Channel
        from kesu.policy.services import bump_taxonomy

        # Every row write of a category or a channel (the admin, update_or_create, a test's factory)
        # changes the taxonomy's token that the per-process caches compare; set-based writes
        # (QuerySet.update) call bump_taxonomy themselves.
        def _bump(**kwargs) -> None:
            bump_taxonomy()

        for model in (Category, Channel):
            post_save.connect(_bump, sender=model, dispatch_uid=f"taxonomy-save-{model.__name__}", weak=False)
            post_delete.connect(
                _bump, sender=model, dispatch_uid=f"taxonomy-del-{model.__name__}", weak=False
            )
