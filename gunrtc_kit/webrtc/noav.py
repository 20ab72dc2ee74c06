"""Import aiortc without loading PyAV until something really uses it.

Why: ``import aiortc`` imports PyAV (``av``, FFmpeg's libraries: about 22 MiB of RSS) through
``aiortc.mediastreams``, ``aiortc.rtp`` and ``aiortc.codecs``, which bind names from ``av`` when
they are imported; our links carry data channels only and never touch a codec. aiortc has no
option to leave media out, so ``load_aiortc`` imports it while stand-ins for ``av`` and its
submodules answer those imports: each name aiortc binds (``from av import AudioFrame``) is a
lazy class that imports the real PyAV the first time it is called, asked for an attribute or
used in ``isinstance``, and forwards to the real object from then on. Once aiortc is imported
the stand-ins leave ``sys.modules``, so a later ``import av`` (a notebook sending media, say)
gets the real PyAV, and aiortc's media paths then work as before, a little later.

When it does nothing: PyAV or aiortc already imported (their cost is paid), or
``GUNRTC_KIT_LOAD_AV=1`` in the environment. If importing aiortc with the stand-ins fails for
any reason (a future aiortc using ``av`` differently at import time), the partial import is
undone and aiortc is imported the ordinary way: the trick can cost memory, never a link.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["load_aiortc"]

log = logging.getLogger(__name__)

_loading = False  # aiortc is being imported: names from ``av`` are lazy classes


def _real(module: str, name: str | None = None) -> Any:
    """The real PyAV module (or a name in it); imported now if it is not yet."""
    mod = sys.modules.get(module)
    if mod is None or isinstance(mod, _StandIn):
        sys.modules.pop(module, None)
        mod = importlib.import_module(module)
    return mod if name is None else getattr(mod, name)


class _LazyMeta(type):
    """The type of a lazy name: calls, attributes and ``isinstance`` go to the real one."""

    _target: tuple[str, str]

    def _resolve(cls) -> Any:
        return _real(*cls._target)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._resolve()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls._resolve(), name)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._resolve())

    def __subclasscheck__(cls, sub: Any) -> bool:
        return issubclass(sub, cls._resolve())


class _StandIn(types.ModuleType):
    """``av`` or one of its submodules while aiortc is imported: every name is lazy; after,
    every name is the real one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if not _loading:
            return _real(self.__name__, name)
        return _LazyMeta(name, (), {"_target": (self.__name__, name)})


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``av`` and ``av.*`` as stand-ins while installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "av" or fullname.startswith("av."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _StandIn(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def _forget(package: str) -> None:
    """Take ``package`` and its submodules out of ``sys.modules``."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def load_aiortc() -> bool:
    """Import aiortc (see the module docstring); True when PyAV was left out."""
    global _loading
    if "aiortc" in sys.modules or "av" in sys.modules or os.environ.get("GUNRTC_KIT_LOAD_AV"):
        importlib.import_module("aiortc")
        return False
    finder = _Finder()
    sys.meta_path.insert(0, finder)
    _loading = True
    try:
        importlib.import_module("aiortc")
        ok = True
    except Exception as exc:  # a future aiortc that needs more of av at import time
        log.debug("aiortc without PyAV failed (%r); importing it with PyAV", exc)
        ok = False
    finally:
        _loading = False
        sys.meta_path.remove(finder)
        _forget("av")
    if not ok:
        _forget("aiortc")
        importlib.import_module("aiortc")
    return ok
