"""The layers stay one-way: no Kesu module imports another app inside a function body.

import-linter (`make lint`, contracts in pyproject.toml) checks the direction of every import, those
inside functions included. This test adds what the contract cannot say: an import of another app is
written at the top of the module, where a reader sees it, not hidden inside a function. Management
commands and migrations may import inside functions (Django loads every command module to list them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import kesu

ROOT = Path(kesu.__file__).parent

# Imports inside functions that the contract allows by name, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("kesu.calendar.workcalendar", "kesu.calendar.services"): "same app (services imports workcalendar)",
}


def _app_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def function_level_imports() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent)
        if "migrations" in rel.parts or "management" in rel.parts:
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                targets: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    targets = [node.module]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                for target in targets:
                    if not (target == "kesu" or target.startswith("kesu.")):
                        continue
                    if _app_of(target) == _app_of(module):
                        continue
                    if (module, target) in ALLOWED:
                        continue
                    found.append((module, target, node.lineno))
    return sorted(set(found))


def test_no_import_of_another_app_inside_a_function():
    found = function_level_imports()
    assert not found, (
        "imports of another app inside a function (move them to the top of the module):\n"
        + "\n".join(f"  {m}:{line} imports {t}" for m, t, line in found)
    )
