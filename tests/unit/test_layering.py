"""The layers of ARCHITECTURE.md hold: a layer imports only from layers below it, the
sans-I/O core and the mesh never import asyncio, and the public names are the documented ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gunrtc_kit

PKG = Path(gunrtc_kit.__file__).parent

# what each part of the package may import from gunrtc_kit (lowest layer first)
ALLOWED = {
    "errors": set(),
    "core": {"errors", "core"},
    "trace": {"errors"},
    "dam": {"errors", "core", "trace", "dam"},
    "transport": {"errors", "core", "trace", "dam", "transport"},
    "store": {"errors", "core"},
    "webrtc": {"errors", "core", "trace", "dam", "transport", "webrtc"},
    "sea": {"errors", "core", "sea"},
    "root": {"errors", "core", "trace", "dam", "transport", "webrtc", "store", "chain", "root"}
    | {"sea", "user"},
    # the chain and the user depend on a Protocol of the root (chain.Root, user.UserRoot),
    # never on the root module, not even under TYPE_CHECKING: the root imports them
    "chain": {"errors", "core", "trace", "chain", "sea"},
    "user": {"errors", "core", "sea", "chain", "user"},
    "relay": {"errors", "core", "trace", "dam", "transport", "store", "root"},
    "tap": {"errors", "core", "trace", "transport", "tap"},
    "cli": {"errors", "trace", "root", "relay", "webrtc", "tap"},
    "diagnose": {"errors", "core", "trace", "diagnose", "sea"},
    "capture": {"errors", "core", "trace", "capture"},  # a pure reader of frame captures
}
NO_ASYNCIO = {"core", "dam", "sea"}


def part_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "gunrtc_kit":  # ``from gunrtc_kit import root``: a part by name
                names.update(f"gunrtc_kit.{a.name}" for a in node.names)
    return names


MODULES = sorted(p for p in PKG.rglob("*.py") if part_of(p) not in ("__init__", "lab"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_layer_imports_only_below(path: Path) -> None:
    part = part_of(path)
    ours = {n.split(".")[1] for n in imports(path) if n.startswith("gunrtc_kit.")}
    assert ours <= ALLOWED[part], f"{path.name} ({part}) imports {ours - ALLOWED[part]}"
    if part in NO_ASYNCIO:
        assert not {n for n in imports(path) if n.split(".")[0] == "asyncio"}
    if part != "lab":
        assert not {n.split(".")[0] for n in imports(path)} & {
            "ipywidgets",
            "matplotlib",
            "networkx",
            "nest_asyncio",
            "IPython",
        }


def test_the_root_package_is_one_layer() -> None:
    # gunrtc_kit/root/ is the root's collaborators (a package since issue 18): every module of
    # it is checked above as part of the "root" layer, none as a layer of its own
    ids = {str(p.relative_to(PKG)): part_of(p) for p in MODULES}
    in_root = {path: part for path, part in ids.items() if path.startswith("root/")}
    assert "root/gun.py" in in_root and set(in_root.values()) == {"root"}


def test_public_names_are_the_documented_ones() -> None:
    assert sorted(gunrtc_kit.__all__) == ["Gun", "GunError", "Relay", "WebRTCOptions"]
    from gunrtc_kit.lab import Lab  # noqa: F401  (ARCHITECTURE.md section 2)


LAB_PARTS = sorted(p for p in (PKG / "lab").rglob("*.py") if p != PKG / "lab" / "__init__.py")


def imports_lab_lab(path: Path) -> bool:
    """Does ``path`` import ``gunrtc_kit.lab.lab`` anywhere (in a function, under
    ``TYPE_CHECKING`` too), as ``import gunrtc_kit.lab.lab`` or as ``from gunrtc_kit.lab
    import lab``?"""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(
            a.name == "gunrtc_kit.lab.lab" or a.name.startswith("gunrtc_kit.lab.lab.")
            for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom):
            if node.module == "gunrtc_kit.lab.lab":
                return True
            if node.module == "gunrtc_kit.lab" and any(a.name == "lab" for a in node.names):
                return True
    return False


@pytest.mark.parametrize("path", LAB_PARTS, ids=[str(p.relative_to(PKG)) for p in LAB_PARTS])
def test_lab_parts_do_not_import_lab_lab(path: Path) -> None:
    # lab.lab composes the parts of lab/ (cells, paths, peers, links, views...); a part that
    # imported it back would tie the two together again (only lab/__init__.py re-exports it)
    assert not imports_lab_lab(path), f"{path.relative_to(PKG)} imports gunrtc_kit.lab.lab"
