"""Audit hooks: logins, logouts, failed logins, and permission changes (roles, department, flags).

These are audit hooks, not business flow: they only append to the audit log. Connected in
`kesu.org.apps.OrgConfig.ready`.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from kesu.org.models import Staff
from kesu.policy.signals import policy_changed
from kesu.trust import audit

User = get_user_model()


@receiver(user_logged_in, dispatch_uid="kesu_audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    from kesu.trust.security import note_login_success

    note_login_success(user.get_username(), request)
    audit.record("auth.login", user, user, {}, request=request)


@receiver(user_logged_out, dispatch_uid="kesu_audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit.record("auth.logout", user, user, {}, request=request)


@receiver(user_login_failed, dispatch_uid="kesu_audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    from kesu.trust.security import note_login_failure

    note_login_failure(str(credentials.get("username", ""))[:150], request)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="kesu_audit_groups")
def _groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if reverse:
        # group.user_set.add(...): instance is the group, pk_set the users.
        group_names = [instance.name]
        users = list(User.objects.filter(pk__in=pk_set or []))
    else:
        group_names = sorted(model.objects.filter(pk__in=pk_set or []).values_list("name", flat=True))
        users = [instance]
    op = {"post_add": "add", "post_remove": "remove", "post_clear": "clear"}[action]
    for user in users:
        audit.record(
            "perm.roles_changed",
            None,
            ("auth.user", user.get_username()),
            {"op": op, "roles": group_names, "now": sorted(user.groups.values_list("name", flat=True))},
        )


@receiver(pre_save, sender=Staff, dispatch_uid="kesu_audit_staff_pre")
def _staff_before(sender, instance, **kwargs) -> None:
    instance._kesu_old_department = (
        Staff.objects.filter(pk=instance.pk).values_list("department_id", flat=True).first()
        if instance.pk
        else None
    )


@receiver(post_save, sender=Staff, dispatch_uid="kesu_audit_staff_post")
def _staff_after(sender, instance, created, **kwargs) -> None:
    old = getattr(instance, "_kesu_old_department", None)
    if created or old != instance.department_id:
        audit.record(
            "perm.department_changed",
            None,
            ("auth.user", instance.user.get_username()),
            {"from": old, "to": instance.department_id, "created": created},
        )


_FLAGS = ("is_superuser", "is_staff", "is_active")


@receiver(pre_save, sender=User, dispatch_uid="kesu_audit_user_pre")
def _user_before(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and not set(update_fields) & set(_FLAGS):
        instance._kesu_old_flags = None  # e.g. last_login on every login: nothing to compare
    elif instance.pk:
        instance._kesu_old_flags = User.objects.filter(pk=instance.pk).values(*_FLAGS).first()
    else:
        instance._kesu_old_flags = None


@receiver(post_save, sender=User, dispatch_uid="kesu_audit_user_post")
def _user_after(sender, instance, created, **kwargs) -> None:
    old = getattr(instance, "_kesu_old_flags", None)
    new = {f: getattr(instance, f) for f in _FLAGS}
    if created:
        if instance.is_superuser or instance.is_staff:
            audit.record("perm.flags_changed", None, ("auth.user", instance.get_username()), {"now": new})
        return
    if old is not None and old != new:
        audit.record(
            "perm.flags_changed",
            None,
            ("auth.user", instance.get_username()),
            {"from": old, "now": new},
        )


@receiver(policy_changed, dispatch_uid="kesu_audit_policy_changed")
def _policy_changed(sender, policy, actor, **kwargs) -> None:
    audit.record(
        "policy.changed",
        actor,
        policy,
        {"code": policy.code, "version": policy.version, "layers": policy.layers, "note": policy.note},
    )
