"""The import screen (数据导入): upload a file → the proposed column mapping → adjust columns and value
maps with the file's distinct values → validate (problems per row) → import → download the report;
and the editor of the saved sources (name, system, options, mapping, value maps, defaults).

Thin: the steps are `kesu.intake.uploads` / `kesu.intake.services`, the proposal
`kesu.intake.describe`. Only the roles that may import (`kesu.intake.services.INTAKE_ROLES`) see it.
"""

from __future__ import annotations

import tempfile
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kesu.errors import DomainError, Forbidden, NotFound
from kesu.intake import selectors, services, uploads
from kesu.intake.describe import CODED_FIELDS, EMPTY_ALLOWED, value_targets
from kesu.intake.mapping import FIELDS, REQUIRED
from kesu.intake.models import ImportBatch, ImportSource
from kesu.intake.options import CHOICES
from kesu.intake.reports import write_issue_report
from kesu.org.selectors import holds_any_role

EXTRA = "extra"  # the column goes to the case's extra facts under its own name (`extra.<name>`)
NO_ENTRY = ""  # a distinct value without a value-map entry: Kesu's code table decides
TO_EMPTY = "__empty__"  # a value-map entry to "" (the value means "no value", e.g. 未回访)
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
OPTION_LABELS = {
    "date_order": gettext_lazy("年份在后的日期顺序"),
    "invalid_id_number": gettext_lazy("证件号码校验不通过时"),
    "closed_without_time": gettext_lazy("已结案但没有结案时间时"),
    "unknown_codes": gettext_lazy("代码无法识别时"),
}
CHOICE_LABELS = {
    "ymd": gettext_lazy("年在前（默认，年份在后的日期无法识别）"),
    "mdy": gettext_lazy("月/日/年"),
    "dmy": gettext_lazy("日/月/年"),
    "reject": gettext_lazy("拒绝该行（默认）"),
    "warn": gettext_lazy("导入并提示"),
    "received_at": gettext_lazy("以接收时间作为结案时间"),
}


def importers_only(view):
    """The roles that may import; the service layer's 403/404 as the Chinese pages."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not holds_any_role(request.user, services.INTAKE_ROLES):
            return render(request, "web/403.html", {"message": _("您无权访问该页面")}, status=403)
        try:
            return view(request, *args, **kwargs)
        except Forbidden as exc:
            return render(request, "web/403.html", {"message": exc.message}, status=403)
        except NotFound as exc:
            return render(request, "web/404.html", {"message": exc.message}, status=404)

    return wrapper


def _field_choices() -> list[tuple[str, str]]:
    return [(name, f"{label}（{name}）") for name, (label, _aliases) in FIELDS.items()]


def _option_rows(options: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "label": OPTION_LABELS[key],
            "value": options.get(key, values[0]),
            "choices": [(v, CHOICE_LABELS[v]) for v in values],
        }
        for key, values in CHOICES.items()
    ]


def _options_from(post: QueryDict) -> dict[str, Any]:
    """The source options as posted: only those that differ from the defaults are saved."""
    options: dict[str, Any] = {}
    system = post.get("system", "").strip()
    if system:
        options["system"] = system
    for key, values in CHOICES.items():
        value = post.get(key, values[0])
        if value != values[0]:
            options[key] = value
    required = [f for f in post.getlist("required") if f not in REQUIRED]
    if required:
        options["required"] = required
    return options


# --- step 1: upload ----------------------------------------------------------------------------


@importers_only
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("请选择要导入的文件"))
            return redirect("web:imports")
        try:
            staged = uploads.stage_upload(request.user, upload.name, upload.chunks())
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("web:imports")
        url = reverse("web:import_upload", kwargs={"pk": staged.pk})
        source = request.POST.get("source") or ""
        return redirect(url + ("?" + urlencode({"source": source}) if source else ""))
    return render(
        request,
        "web/imports.html",
        {
            "nav_active": "imports",
            "sources": list(selectors.sources()),
            "uploads": selectors.open_uploads(request.user),
            "batches": selectors.recent_batches(),
        },
    )


# --- steps 2–4: the proposed mapping, adjusted, validated ---------------------------------------


def _mapping_context(request: HttpRequest, upload_id: int, source_code: str | None) -> dict[str, Any]:
    doc = uploads.describe_upload(request.user, upload_id, source=source_code or None)
    upload = uploads.get_upload(request.user, upload_id)
    source = ImportSource.objects.filter(code=doc["source"]).first() if doc["source"] else None
    targets = value_targets()
    field_labels = dict(_field_choices())
    coded = []
    for field in CODED_FIELDS:
        cols = doc["mapping"].get(field)
        if not cols:
            continue
        column = next(c for c in doc["columns"] if c["name"] == cols[0])
        entries = doc["value_maps"].get(field, {})
        rows = []
        for d in column["distinct"]:
            mapped = entries.get(d["value"])
            rows.append(
                {
                    "raw": d["value"],
                    "count": d["count"],
                    "value": NO_ENTRY if mapped is None else (TO_EMPTY if mapped == "" else mapped),
                    "unknown": d["value"] in doc["unmapped_values"].get(field, []),
                }
            )
        choices = [(code, f"{code} {label}") for code, label in targets[field] if code != ""]
        if field in EMPTY_ALLOWED:
            choices.insert(0, (TO_EMPTY, _("（表示无值，留空）")))
        coded.append(
            {
                "field": field,
                "label": field_labels[field],
                "column": column["name"],
                "rows": rows,
                "choices": choices,
                "truncated": column["distinct_truncated"],
            }
        )
    batch = upload.last_batch
    return {
        "nav_active": "imports",
        "upload": upload,
        "doc": doc,
        "source": source,
        "sources": list(selectors.sources()),
        "field_choices": _field_choices(),
        "coded": coded,
        "options": _option_rows(doc["options"]),
        "system": doc["options"].get("system", ""),
        "required_choices": [(f, field_labels[f]) for f in FIELDS if f not in REQUIRED],
        "required": doc["options"].get("required", []),
        "batch": batch,
        "issues": selectors.batch_issues(batch, limit=200) if batch else [],
        "EXTRA": EXTRA,
    }


def _save_source_from(request: HttpRequest, doc: dict[str, Any]) -> ImportSource:
    """The source as adjusted on the mapping screen: the file's columns and value maps added to
    what the source already says (other files of the source keep working)."""
    post = request.POST
    code = (post.get("new_code") or post.get("source") or "").strip()
    existing = ImportSource.objects.filter(code=code).first()
    mapping: dict[str, Any] = dict(existing.mapping) if existing else {}
    # The user's choice per column wins over header matching: a column goes to the field chosen for
    # it and to no other. A field the page had proposed for it (by a built-in header name, the
    # source's names or the values) and the user took away is saved as an empty list, which the
    # importer reads as "not in this file" instead of falling back to the built-in names.
    for col in doc["columns"]:
        if not col["name"]:
            continue
        choice = post.get(f"col-{col['index']}", "")
        key = f"extra.{col['name']}" if choice == EXTRA else choice
        if key and key not in FIELDS and not key.startswith("extra."):
            continue
        for other, before in list(mapping.items()):
            if other == key or before is False:
                continue
            names = [before] if isinstance(before, str) else list(before or [])
            if col["name"] in names:
                kept = [n for n in names if n != col["name"]]
                if kept or not other.startswith("extra."):
                    mapping[other] = kept
                else:
                    del mapping[other]
        proposed = col.get("field")
        if proposed and proposed != key and proposed in FIELDS and proposed not in mapping:
            mapping[proposed] = []
        if not key:
            continue
        before = mapping.get(key)
        names = [before] if isinstance(before, str) else list(before or [])
        mapping[key] = [col["name"], *(n for n in names if n != col["name"])]
    value_maps: dict[str, dict[str, str]] = {
        k: dict(v) for k, v in (existing.value_maps if existing else {}).items()
    }
    for field in CODED_FIELDS:
        for n in range(int(post.get(f"vm-{field}-count", 0) or 0)):
            raw = post.get(f"vmraw-{field}-{n}")
            if raw is None:
                continue
            target = post.get(f"vm-{field}-{n}", NO_ENTRY)
            entries = value_maps.setdefault(field, {})
            if target == NO_ENTRY:
                entries.pop(raw, None)
            else:
                entries[raw] = "" if target == TO_EMPTY else target
    value_maps = {k: v for k, v in value_maps.items() if v}
    fields = {
        "name": post.get("name", "").strip() or (existing.name if existing else code),
        "mapping": mapping,
        "value_maps": value_maps,
        "options": _options_from(post),
    }
    if existing is None:
        return services.create_source(code, **fields)
    return services.save_source(code, **fields)


@importers_only
def upload_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    source_code = request.POST.get("source") if request.method == "POST" else request.GET.get("source")
    if request.method == "POST":
        # The columns as the page showed them: the header is located with the source's names.
        doc = uploads.describe_upload(request.user, pk, source=request.POST.get("described_with") or None)
        try:
            source = _save_source_from(request, doc)
            batch = uploads.run_upload(request.user, pk, source=source.code, mode=ImportBatch.Mode.VALIDATE)
        except DomainError as exc:
            ctx = _mapping_context(request, pk, source_code)
            ctx["error"] = exc
            return render(request, "web/import_mapping.html", ctx, status=422)
        messages.success(
            request,
            _("映射已保存到来源「%(s)s」，校验完成：%(r)s") % {"s": source.name, "r": batch.summary()},
        )
        url = reverse("web:import_upload", kwargs={"pk": pk})
        return redirect(f"{url}?{urlencode({'source': source.code})}#result")
    return render(request, "web/import_mapping.html", _mapping_context(request, pk, source_code))


# --- step 5: commit; the batch and its report -----------------------------------------------------


@importers_only
def upload_commit(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    upload = uploads.get_upload(request.user, pk)
    if upload.source is None:
        messages.error(request, _("请先保存映射并校验"))
        return redirect("web:import_upload", pk=pk)
    batch = uploads.run_upload(request.user, pk, source=upload.source.code, mode=ImportBatch.Mode.COMMIT)
    if batch.state == ImportBatch.State.COMPLETED:
        messages.success(request, _("导入完成：%(r)s") % {"r": batch.summary()})
    else:
        messages.error(request, _("导入失败：%(e)s") % {"e": batch.error})
    return redirect("web:import_batch", pk=batch.pk)


@importers_only
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = ImportBatch.objects.select_related("source", "started_by").filter(pk=pk).first()
    if batch is None:
        raise NotFound(_("导入批次不存在"))
    return render(
        request,
        "web/import_batch.html",
        {"nav_active": "imports", "batch": batch, "issues": selectors.batch_issues(batch)},
    )


@importers_only
def batch_report(request: HttpRequest, pk: int) -> HttpResponse:
    batch = ImportBatch.objects.select_related("source").filter(pk=pk).first()
    if batch is None:
        raise NotFound(_("导入批次不存在"))
    fmt = request.GET.get("format", "xlsx")
    if fmt not in CONTENT_TYPES:
        fmt = "xlsx"
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    write_issue_report(batch, fmt, handle)
    handle.seek(0)
    return FileResponse(
        handle, as_attachment=True, filename=f"导入报告-{batch.pk}.{fmt}", content_type=CONTENT_TYPES[fmt]
    )


# --- the saved sources ------------------------------------------------------------------------------


def _source_rows(source: ImportSource) -> dict[str, Any]:
    mapping = source.mapping or {}
    field_rows = []
    for name, (label, aliases) in FIELDS.items():
        own = mapping.get(name)
        field_rows.append(
            {
                "name": name,
                "label": label,
                "value": "，".join([own] if isinstance(own, str) else list(own or [])),
                "builtin": "，".join(aliases),
            }
        )
    extras = [
        {"key": k[6:], "value": "，".join([v] if isinstance(v, str) else list(v))}
        for k, v in mapping.items()
        if k.startswith("extra.")
    ]
    maps = [
        {"field": field, "raw": raw, "target": target}
        for field, entries in (source.value_maps or {}).items()
        for raw, target in entries.items()
    ]
    defaults = [{"field": k, "value": v} for k, v in (source.defaults or {}).items()]
    return {
        "field_rows": field_rows,
        "extras": extras + [{"key": "", "value": ""}] * 2,
        "maps": maps + [{"field": "", "raw": "", "target": ""}] * 3,
        "defaults": defaults + [{"field": "", "value": ""}] * 2,
    }


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.replace("，", ",").split(",") if n.strip()]


@importers_only
def source_edit(request: HttpRequest, pk: int) -> HttpResponse:
    source = ImportSource.objects.filter(pk=pk).first()
    if source is None:
        raise NotFound(_("数据来源不存在"))
    error = None
    if request.method == "POST":
        post = request.POST
        mapping: dict[str, Any] = {}
        for name in FIELDS:
            names = _names(post.get(f"map-{name}", ""))
            if names:
                mapping[name] = names
        for key, value in zip(post.getlist("extra-key"), post.getlist("extra-value"), strict=False):
            if key.strip() and _names(value):
                mapping[f"extra.{key.strip()}"] = _names(value)
        value_maps: dict[str, dict[str, str]] = {}
        for field, raw, target in zip(
            post.getlist("vm-field"), post.getlist("vm-raw"), post.getlist("vm-target"), strict=False
        ):
            if field in CODED_FIELDS and raw.strip():
                value_maps.setdefault(field, {})[raw.strip()] = target.strip()
        defaults = {
            f: v.strip()
            for f, v in zip(post.getlist("default-field"), post.getlist("default-value"), strict=False)
            if f in FIELDS and v.strip()
        }
        try:
            services.save_source(
                source.code,
                name=post.get("name", "").strip() or source.name,
                mapping=mapping,
                value_maps=value_maps,
                defaults=defaults,
                options=_options_from(post),
            )
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("来源「%(s)s」已保存") % {"s": source.code})
            return redirect("web:import_source", pk=pk)
        source.refresh_from_db()
    options = source.options or {}
    return render(
        request,
        "web/import_source.html",
        {
            "nav_active": "imports",
            "source": source,
            "error": error,
            "system": options.get("system", ""),
            "options": _option_rows(options),
            "required_choices": [(f, FIELDS[f][0]) for f in FIELDS if f not in REQUIRED],
            "required": options.get("required", []),
            "coded_fields": CODED_FIELDS,
            "field_names": list(FIELDS),
            **_source_rows(source),
        },
        status=422 if error else 200,
    )
