"""Every public name of the notebook layer and of diagnose says what it is for (a reviewer
found 41 public Lab members without a docstring)."""

from __future__ import annotations

import ast
from pathlib import Path

import gunrtc_kit

PKG = Path(gunrtc_kit.__file__).parent


def undocumented(path: Path) -> list[str]:
    missing: list[str] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for n in ast.iter_child_nodes(node):
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if not n.name.startswith("_") and not ast.get_docstring(n):
                    missing.append(f"{path.relative_to(PKG)}:{n.lineno} {prefix}{n.name}")
                if isinstance(n, ast.ClassDef):
                    walk(n, f"{prefix}{n.name}.")

    walk(ast.parse(path.read_text()), "")
    return missing


def test_public_names_of_lab_and_diagnose_have_docstrings() -> None:
    files = sorted((PKG / "lab").rglob("*.py")) + sorted((PKG / "diagnose").rglob("*.py"))
    missing = [m for f in files for m in undocumented(f)]
    assert not missing, missing
