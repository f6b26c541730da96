"""Reading presets from TOML and merging them (extends / regulator layers).

A preset may `extend` another one; regulator rule sets (`overlay = true`) layer
on top of a company preset. Merge rules, chosen so that a child only needs to
state what differs:
- tables merge key by key;
- lists of coded entries (channels, categories, closing criteria ...) merge by `code`;
- SLA rules are appended; a child rule with `replace = true` first removes the parent's
  rules of the same stage whose kinds overlap. Layers never replace: where several rules
  match, the SLA engine takes the earliest deadline, so a layer can only tighten;
- any other list is replaced whole.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

PRESET_DIR = Path(__file__).resolve().parent / "presets"
CODED_LISTS = {"channels", "categories", "closing_criteria", "invalidity_reasons", "business_types"}
TIME_UNITS = {
    "calendar_minutes",
    "calendar_hours",
    "calendar_days",
    "working_hours",
    "working_days",
    "months",
}


class PolicyError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def read_preset(code: str) -> dict[str, Any]:
    path = PRESET_DIR / f"{code}.toml"
    if not path.is_file():
        raise PolicyError([f"unknown preset '{code}' (available: {', '.join(available_presets())})"])
    with path.open("rb") as fh:
        return tomllib.load(fh)


def _kinds_overlap(a: dict, b: dict) -> bool:
    ka, kb = a.get("kinds"), b.get("kinds")
    if not ka or not kb:
        return True
    return bool(set(ka) & set(kb))


def _merge_sla(base: list[dict], extra: list[dict], *, allow_replace: bool, source: str) -> list[dict]:
    result = list(base)
    for rule in extra:
        rule = dict(rule)
        rule.setdefault("source", source)
        if allow_replace and rule.pop("replace", False):
            result = [r for r in result if not (r["stage"] == rule["stage"] and _kinds_overlap(r, rule))]
        rule.pop("replace", None)
        result.append(rule)
    return result


def merge(
    base: dict[str, Any], child: dict[str, Any], *, layer: bool = False, source: str = ""
) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in child.items():
        if key == "sla" and isinstance(value, dict):
            sla = out.setdefault("sla", {})
            for skey, svalue in value.items():
                if skey == "rules":
                    sla["rules"] = _merge_sla(
                        sla.get("rules", []), svalue, allow_replace=not layer, source=source
                    )
                elif isinstance(svalue, dict):
                    sla[skey] = merge(sla.get(skey, {}), svalue)
                else:
                    sla[skey] = svalue
        elif key in CODED_LISTS and isinstance(value, list):
            by_code = {item["code"]: item for item in out.get(key, [])}
            for item in value:
                by_code[item["code"]] = {**by_code.get(item["code"], {}), **item}
            out[key] = list(by_code.values())
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, layer=layer, source=source)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_preset(code: str, layers: list[str] | None = None) -> dict[str, Any]:
    """The full document of a preset, its `extends` chain applied, then the regulator layers."""
    seen: list[str] = []
    chain: list[dict] = []
    current: str | None = code
    while current:
        if current in seen:
            raise PolicyError([f"preset '{code}' extends itself through {seen}"])
        seen.append(current)
        doc = read_preset(current)
        if doc.get("meta", {}).get("overlay") and current == code:
            raise PolicyError([f"'{code}' is a regulator layer; load a company preset with --with {code}"])
        chain.append(doc)
        current = doc.get("meta", {}).get("extends")
    document: dict[str, Any] = {}
    for doc in reversed(chain):
        document = merge(document, doc, source=doc["meta"]["code"])
    document["meta"] = {**chain[0]["meta"]}
    document["meta"].pop("extends", None)
    for layer_code in layers or []:
        layer = read_preset(layer_code)
        if not layer.get("meta", {}).get("overlay"):
            raise PolicyError([f"'{layer_code}' is not a regulator layer"])
        body = {k: v for k, v in layer.items() if k != "meta"}
        document = merge(document, body, layer=True, source=layer_code)
        document["meta"].setdefault("layers", []).append(layer_code)
    validate(document)
    return document


def validate(document: dict[str, Any]) -> None:
    """Refuse a document the services could not work with; list every problem at once."""
    errors: list[str] = []
    meta = document.get("meta", {})
    if not meta.get("code"):
        errors.append("meta.code is missing")
    codes = set()
    for cat in document.get("categories", []):
        if not cat.get("code") or not cat.get("name"):
            errors.append(f"category without code or name: {cat}")
        codes.add(cat.get("code"))
    for cat in document.get("categories", []):
        if cat.get("parent") and cat["parent"] not in codes:
            errors.append(f"category {cat['code']}: unknown parent {cat['parent']}")
    if not document.get("channels"):
        errors.append("no channels")
    for rule in document.get("sla", {}).get("rules", []):
        if rule.get("unit") not in TIME_UNITS:
            errors.append(f"sla rule {rule.get('stage')}: unknown unit {rule.get('unit')!r}")
        if not isinstance(rule.get("amount"), int | float) or rule["amount"] <= 0:
            errors.append(f"sla rule {rule.get('stage')}: amount must be a positive number")
    for tier in document.get("approval", {}).get("tiers", []):
        if "role" not in tier:
            errors.append(f"approval tier without role: {tier}")
    if not document.get("closing_criteria"):
        errors.append("no closing criteria")
    if errors:
        raise PolicyError(errors)
