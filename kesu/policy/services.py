"""Writes to the policy: loading a preset, activating a version."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from kesu.org import stamps
from kesu.policy import selectors
from kesu.policy.loader import resolve_preset, validate
from kesu.policy.models import Category, Channel, Policy, TaxonomyStamp
from kesu.policy.signals import policy_changed


@transaction.atomic
def activate_document(document: dict[str, Any], *, actor=None, note: str = "") -> Policy:
    """Store a document as the next policy version, make it active, and sync taxonomy and channels."""
    validate(document)
    next_version = (Policy.objects.aggregate(v=Max("version"))["v"] or 0) + 1
    Policy.objects.filter(is_active=True).update(is_active=False)
    policy = Policy.objects.create(
        code=document["meta"]["code"],
        name=document["meta"].get("name", document["meta"]["code"]),
        version=next_version,
        is_active=True,
        document=document,
        layers=document["meta"].get("layers", []),
        created_by=actor,
        note=note,
    )
    _sync_channels(document)
    _sync_categories(document)
    selectors.clear_cache()
    _record_audit(policy, actor)
    return policy


def load_preset(code: str, *, layers: list[str] | None = None, actor=None) -> Policy:
    document = resolve_preset(code, layers)
    return activate_document(
        document, actor=actor, note=f"preset {code}" + (f" + {'+'.join(layers)}" if layers else "")
    )


def _sync_channels(document: dict[str, Any]) -> None:
    present = set()
    for ch in document.get("channels", []):
        Channel.objects.update_or_create(
            code=ch["code"],
            defaults={
                "name": ch["name"],
                "is_crisis": bool(ch.get("crisis")),
                "is_active": True,
                # An English name typed in the admin stays unless the policy gives one.
                **({"name_en": ch["name_en"]} if ch.get("name_en") else {}),
            },
        )
        present.add(ch["code"])
    Channel.objects.exclude(code__in=present).update(is_active=False)
    bump_taxonomy()  # QuerySet.update sends no post_save


def _sync_categories(document: dict[str, Any]) -> None:
    entries = {c["code"]: c for c in document.get("categories", [])}

    def depth_of(code: str) -> int:
        parent = entries[code].get("parent")
        return 0 if not parent else 1 + depth_of(parent)

    saved: dict[str, Category] = {}
    for code in sorted(entries, key=depth_of):
        entry = entries[code]
        parent = saved.get(entry.get("parent")) if entry.get("parent") else None
        department = entry.get("department") or (parent.department_code if parent else "")
        obj, _ = Category.objects.update_or_create(
            code=code,
            defaults={
                "name": entry["name"],
                "parent": parent,
                "path": (parent.path if parent else "/") + code + "/",
                "depth": depth_of(code),
                "department_code": department,
                "keywords": entry.get("keywords", []),
                "is_active": True,
                **({"name_en": entry["name_en"]} if entry.get("name_en") else {}),
            },
        )
        saved[code] = obj
    Category.objects.exclude(code__in=entries).update(is_active=False)
    bump_taxonomy()  # QuerySet.update sends no post_save


def bump_taxonomy() -> None:
    """A new token for the taxonomy stamp: every process's cached categories and channels are stale.

    Inside the writer's transaction, so other processes see the new token with the new rows.
    """
    stamps.bump(TaxonomyStamp)


def _record_audit(policy: Policy, actor) -> None:
    # The audit chain lives in kesu.trust, a layer above; it listens (kesu.trust.signals).
    policy_changed.send(sender=Policy, policy=policy, actor=actor)
