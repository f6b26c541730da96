from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# A user's saves that change nothing the pickers show: the login stamp and the password.
_UNSEEN_USER_FIELDS = frozenset({"last_login", "password"})


class OrgConfig(AppConfig):
    name = "kesu.org"
    label = "org"
    verbose_name = _("组织机构")

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from kesu.org.models import Department, Staff
        from kesu.org.services import bump_org

        # Every row write of a department, a staff row, a user (its name, is_active) or a role group, and
        # every change of a user's groups, changes the organisation's token that the per-process pickers
        # compare (kesu.web.action_forms); set-based writes (QuerySet.update) call bump_org themselves.
        def _bump(**kwargs) -> None:
            bump_org()

        def _bump_user(update_fields=None, **kwargs) -> None:
            # Each login saves last_login: that must not empty every process's pickers.
            if update_fields is not None and set(update_fields) <= _UNSEEN_USER_FIELDS:
                return
            bump_org()

        def _bump_groups(action: str, **kwargs) -> None:
            if action in ("post_add", "post_remove", "post_clear"):
                bump_org()

        User = get_user_model()
        for model in (Department, Staff, Group):
            post_save.connect(_bump, sender=model, dispatch_uid=f"org-save-{model.__name__}", weak=False)
            post_delete.connect(_bump, sender=model, dispatch_uid=f"org-del-{model.__name__}", weak=False)
        post_save.connect(_bump_user, sender=User, dispatch_uid="org-save-user", weak=False)
        post_delete.connect(_bump, sender=User, dispatch_uid="org-del-user", weak=False)
        m2m_changed.connect(_bump_groups, sender=User.groups.through, dispatch_uid="org-groups", weak=False)
