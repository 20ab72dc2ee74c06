"""One naming rule for waits, checked on the public API (docs/guide.md, "The Lab").

A call that waits on the network or on time is a coroutine ``x``; its blocking twin is
``x_sync``, with the same parameters (names, kinds, defaults). No public coroutine is named
``a`` + the name of a plain call beside it (the old ``adoctor``/``doctor`` pair). Every twin
that adds slack to its call's own timeout adds the one ``SLACK`` of ``runtime.py``.

The walk covers the public modules and, in them, the public classes, with what they inherit
(``Lab`` takes ``heal``/``sea`` from ``LabInquiry``). The checker is tried on made-up classes
too, so a ``def foo_sync`` with no ``async def foo`` is shown to fail it.
"""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path
from typing import Any

import pytest

import gunrtc_kit
import gunrtc_kit.chain
import gunrtc_kit.lab
import gunrtc_kit.lab.doctor
import gunrtc_kit.lab.users
import gunrtc_kit.relay
import gunrtc_kit.user
from gunrtc_kit.chain import Chain
from gunrtc_kit.lab import Lab, LabPeer, MemoryLink, Runtime, SignalingSteps
from gunrtc_kit.lab.runtime import SLACK
from gunrtc_kit.lab.users import LabUser
from gunrtc_kit.user import User, UserChain

MODULES: list[types.ModuleType] = [
    gunrtc_kit,
    gunrtc_kit.lab,
    gunrtc_kit.lab.doctor,
    gunrtc_kit.lab.users,
    gunrtc_kit.chain,
    gunrtc_kit.user,
    gunrtc_kit.relay,
]
CLASSES: list[type] = [
    Lab,
    LabPeer,
    LabUser,
    MemoryLink,
    SignalingSteps,
    Runtime,
    Chain,
    UserChain,
    User,
]
LAB = Path(gunrtc_kit.lab.__file__).parent


def _function(obj: Any) -> Any:
    """The plain function under a static/class method; None for what is not called (a
    property, a constant)."""
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    return obj if inspect.isfunction(obj) else None


def members(owner: type | types.ModuleType) -> dict[str, Any]:
    """The public functions of a class (inherited ones too) or of a module (its ``__all__``,
    else every public name it defines), by name."""
    if isinstance(owner, type):
        found = {n: inspect.getattr_static(owner, n) for n in dir(owner) if not n.startswith("_")}
    else:
        names = getattr(owner, "__all__", None) or [n for n in vars(owner) if n[0] != "_"]
        found = {n: getattr(owner, n) for n in names}
    return {n: f for n, f in ((n, _function(o)) for n, o in found.items()) if f is not None}


def _shape(fn: Any) -> list[tuple[str, Any, Any]]:
    """Each parameter's name, kind and default (annotations may differ: the return type)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def twin_problems(owner: type | types.ModuleType) -> list[str]:
    """What breaks the rule in ``owner``'s public functions (empty when nothing does)."""
    where = owner.__name__
    fns = members(owner)
    problems: list[str] = []
    for name, fn in sorted(fns.items()):
        is_coro = inspect.iscoroutinefunction(fn)
        if name.endswith("_sync"):
            base = fns.get(name.removesuffix("_sync"))
            if is_coro:
                problems.append(f"{where}.{name} is a coroutine; a _sync twin blocks")
            elif base is None or not inspect.iscoroutinefunction(base):
                problems.append(f"{where}.{name} has no coroutine {name.removesuffix('_sync')}")
            elif _shape(base) != _shape(fn):
                problems.append(
                    f"{where}.{name}{inspect.signature(fn)} does not take what "
                    f"{base.__name__}{inspect.signature(base)} takes"
                )
        elif is_coro and name.startswith("a") and name[1:] in fns:
            if not inspect.iscoroutinefunction(fns[name[1:]]):
                problems.append(
                    f"{where}.{name} is the coroutine of plain {name[1:]}: name it {name[1:]} "
                    f"and the blocking one {name[1:]}_sync"
                )
    return problems


def owners() -> list[type | types.ModuleType]:
    """Every module and class walked: the listed ones, and each public class the modules
    export."""
    seen: list[type | types.ModuleType] = [*MODULES, *CLASSES]
    for m in MODULES:
        for name in getattr(m, "__all__", []):
            obj = getattr(m, name)
            if inspect.isclass(obj) and obj not in seen:
                seen.append(obj)
    return seen


# ---------------------------------------------------------------- the public API
@pytest.mark.parametrize("owner", owners(), ids=lambda o: o.__name__)
def test_every_public_name_follows_the_twin_rule(owner: type | types.ModuleType) -> None:
    assert twin_problems(owner) == []


def test_the_walk_sees_the_twins_it_is_about() -> None:
    """Guard against a walk that checks nothing: these pairs are in what it sees."""
    pairs = {
        (Lab, "heal"),
        (Lab, "sea"),
        (Lab, "link"),
        (LabPeer, "get"),
        (LabUser, "auth"),
        (SignalingSteps, "wait_open"),
        (Runtime, "run"),
        (gunrtc_kit.lab.doctor, "heal"),
        (gunrtc_kit.lab.doctor, "lab_heal"),
    }
    for owner, name in pairs:
        fns = members(owner)
        assert inspect.iscoroutinefunction(fns[name]), (owner, name)
        assert f"{name}_sync" in fns, (owner, name)
    # reads stay plain: the doctor diagnoses without waiting, and heals in its own call
    assert not inspect.iscoroutinefunction(gunrtc_kit.lab.doctor.doctor)
    assert "heal" not in inspect.signature(gunrtc_kit.lab.doctor.doctor).parameters
    assert "heal" not in inspect.signature(Lab.doctor).parameters
    assert not hasattr(gunrtc_kit.lab.doctor, "adoctor") and not hasattr(Runtime, "arun")


def test_twins_add_the_one_slack_of_the_runtime() -> None:
    """No twin in the Lab adds a slack of its own: ``SLACK`` is defined once, in
    ``runtime.py``, and no ``timeout + <number>`` (or ``+ max(...)``) is left."""
    assert SLACK == 5.0
    for path in sorted(LAB.rglob("*.py")):
        text = path.read_text()
        assert re.search(r"^SLACK\s*=", text, re.M) is None or path.name == "runtime.py", path
        bad = re.findall(r"(?:timeout|ack_timeout|budget)\s*\+\s*(?:\d|max\()", text)
        assert bad == [], (path.name, bad)


# ---------------------------------------------------------------- the checker itself
def test_a_sync_twin_without_its_coroutine_fails_the_rule() -> None:
    class Lonely:
        def foo_sync(self, timeout: float = 1.0) -> None:
            """Blocks, with no awaitable ``foo`` beside it."""

    assert twin_problems(Lonely) == ["Lonely.foo_sync has no coroutine foo"]

    class PlainBase:
        def foo(self) -> None:
            """Not a coroutine."""

        def foo_sync(self) -> None:
            """A twin of a plain call."""

    assert twin_problems(PlainBase) == ["PlainBase.foo_sync has no coroutine foo"]


def test_a_twin_with_other_parameters_or_defaults_fails_the_rule() -> None:
    class Other:
        async def foo(self, timeout: float = 1.0) -> int:
            """The wait."""
            return 1

        def foo_sync(self, timeout: float = 2.0) -> int:
            """Its twin, with another default."""
            return 1

        async def bar(self, *, souls: list[str] | None = None) -> None:
            """The wait."""

        def bar_sync(self, souls: list[str] | None = None) -> None:
            """Its twin, with a positional parameter where the wait has a keyword."""

    problems = twin_problems(Other)
    assert [p.split("(")[0] for p in problems] == ["Other.bar_sync", "Other.foo_sync"]


def test_an_a_prefixed_coroutine_beside_its_plain_call_fails_the_rule() -> None:
    class Old:
        async def adoctor(self) -> None:
            """The old style: the coroutine named ``a`` + the plain call's name."""

        def doctor(self) -> None:
            """The plain call."""

        async def auth(self) -> None:
            """Starts with ``a`` but has no plain ``uth``: fine."""

    assert twin_problems(Old) == [
        "Old.adoctor is the coroutine of plain doctor: name it doctor and the blocking one "
        "doctor_sync"
    ]
    module = types.ModuleType("made_up")
    module.__all__ = ["step_sync"]  # type: ignore[attr-defined]

    def step_sync() -> None:
        """A module-level twin with no coroutine."""

    module.step_sync = step_sync  # type: ignore[attr-defined]
    assert twin_problems(module) == ["made_up.step_sync has no coroutine step"]
