"""Paths in the graph as the Lab takes them: ``"soul.key.key"`` or a list of keys.

Why apart: ``LabPeer`` and ``LabUser`` (``peer.user``) both read and write by path, and the
rule (split a string on dots, take a list as it is, an empty key is a ``GunError`` naming it)
must be the same for both.
"""

from __future__ import annotations

from typing import Any

from gunrtc_kit.chain import Chain
from gunrtc_kit.errors import GunError
from gunrtc_kit.root import Gun

__all__ = ["KeyPath"]

KeyPath = str | list[str] | tuple[str, ...]
"""A path in the graph: ``"soul.key.key"`` (split on dots) or a list/tuple of keys (as is)."""


def _keys(path: KeyPath) -> tuple[str, ...]:
    """The keys of ``path``, checked: a string is split on dots, a list/tuple is taken as is."""
    if isinstance(path, str):
        if not path:
            raise GunError(
                "path='' is empty: expected 'soul', 'soul.key.key' or a list of keys "
                "such as ['users', 'bob@example.com']"
            )
        keys: tuple[Any, ...] = tuple(path.split("."))
    elif isinstance(path, list | tuple):
        keys = tuple(path)
        if not keys:
            raise GunError(f"path={path!r} is empty: expected at least a soul, e.g. ['chat']")
    else:
        raise GunError(
            f"path={path!r}: expected a string 'soul.key' or a list of keys, "
            f"not {type(path).__name__}"
        )
    for i, k in enumerate(keys):
        if not isinstance(k, str):
            raise GunError(f"path={path!r}: key {i} is {k!r}, expected a string")
        if not k:
            hint = (
                " (two dots in a row, or a dot at an end: a key with dots in it goes in a "
                "list, e.g. ['users', 'bob@example.com'])"
                if isinstance(path, str)
                else ""
            )
            raise GunError(f"path={path!r}: key {i} is empty{hint}")
    return keys


def _chain(gun: Gun, keys: tuple[str, ...]) -> Chain:
    chain = gun.get(keys[0])
    for k in keys[1:]:
        chain = chain.get(k)
    return chain


def _path(gun: Gun, path: KeyPath) -> Chain:
    """The chain for ``path`` on ``gun`` (checked as ``_keys`` does)."""
    return _chain(gun, _keys(path))
