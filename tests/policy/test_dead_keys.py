"""No key in a preset or a regulator layer that no code reads.

Every leaf key of every preset, alone and with every layer, must be declared in kesu/policy/keys.py with
the modules that read it, and each of those modules must really contain the key's name as a string.
A key that fails here is either enforced (with a test that walks a case through the lifecycle) or taken
out of the preset and listed in docs/rules-not-yet-enforced.md.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

import pytest

from kesu.policy import keys
from kesu.policy.loader import available_presets, read_preset, resolve_preset
from kesu.sla.stages import STAGES

CODES = available_presets()
LAYERS = [c for c in CODES if read_preset(c)["meta"].get("overlay")]
COMPANY = [c for c in CODES if c not in LAYERS]
DOC = Path(__file__).resolve().parents[2] / "docs" / "rules-not-yet-enforced.md"


def documents() -> list[tuple[str, dict]]:
    """Every preset and layer as written (the loader's own keys), and every preset alone and with each
    layer as the services receive it (keys the loader adds)."""
    docs = [(f"{code}.toml", read_preset(code)) for code in CODES]
    for code in COMPANY:
        docs.append((code, resolve_preset(code)))
        docs += [(f"{code} --with {layer}", resolve_preset(code, [layer])) for layer in LAYERS]
    return docs


@cache
def string_constants(module: str) -> frozenset[str]:
    spec = importlib.util.find_spec(module)
    assert spec and spec.origin, module
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return frozenset(
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def test_every_key_of_every_preset_and_layer_is_read():
    unread: dict[str, list[str]] = {}
    for label, doc in documents():
        for path in keys.leaf_paths(doc):
            if keys.registered(path) is None:
                unread.setdefault(path, []).append(label)
    assert not unread, (
        "keys no code reads (enforce them or move them to docs/rules-not-yet-enforced.md):\n"
        + (
            "\n".join(
                f"  {path}  ({', '.join(sorted(set(where)))})" for path, where in sorted(unread.items())
            )
        )
    )


@pytest.mark.parametrize("pattern", sorted(keys.READERS))
def test_every_declared_reader_really_reads_the_key(pattern):
    name = keys.looked_for_name(pattern)
    readers = keys.READERS[pattern]
    assert readers, pattern
    for module in readers:
        assert module != "kesu.policy.keys"
        assert name in string_constants(module), f"{module} never names {name!r} ({pattern})"


def test_every_deadline_rule_names_a_stage_the_engine_opens():
    # A rule for a stage the engine does not know would never open a deadline: as dead as an unread key.
    for label, doc in documents():
        for rule in doc.get("sla", {}).get("rules", []):
            assert rule["stage"] in STAGES, (label, rule)


def test_every_deadline_rule_states_its_seed():
    for code in COMPANY:
        for rule in resolve_preset(code, LAYERS[:0])["sla"]["rules"]:
            assert rule.get("seed"), (code, rule)
    for layer in LAYERS:
        for rule in read_preset(layer)["sla"]["rules"]:
            assert rule.get("seed"), (layer, rule)


def test_the_guard_catches_an_unread_key():
    doc = {**resolve_preset("insurance", ["nfra"]), "group_visit": {"max_representatives": 5}}
    assert keys.registered("group_visit.max_representatives") is None
    assert "group_visit.max_representatives" in keys.leaf_paths(doc)
    # Data keys match their wildcard; a misspelt field does not.
    assert keys.registered("penalties.channel.media.person") == "penalties.channel.*.person"
    assert keys.registered("penalties.channel.media.persn") is None
    assert keys.registered("sla.rules[].source_article") is None


def test_the_removed_rules_are_listed_with_their_seed():
    text = DOC.read_text(encoding="utf-8")
    for removed in (
        "visible_roles",
        "max_representatives",
        "[appeal]",
        "approval_department",
        "access_approval",
        "report_notice",
    ):
        assert removed in text, removed
    # The regulator rules enforced since (kesu.cases.regulator) are no longer listed as missing.
    table = text.split("Returned to the regulator layers")[0]
    for enforced in ("recusal", "further_remedies", "sla.extension.regulator", "appraisal", "time_bar"):
        assert enforced not in table, enforced
