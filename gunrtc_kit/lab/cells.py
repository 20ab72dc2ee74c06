"""Which notebook cell made a Lab, and the register of open Labs that a re-run closes.

Why apart: telling one cell's runs apart reads IPython's shell and the call stack, nothing of
the Lab itself; and the register (every open Lab, held weakly) is shared by all Labs of the
process, whatever runtime they are on. ``Lab`` claims its cell when it is made
(``OpenLabs.claim``) and ``Lab.close_all`` empties the register.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
import weakref
from types import FrameType
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["OpenLabs"]


class Claimant(Protocol):
    """What the register needs of a Lab: the cell run that made it, and a way to close it."""

    _cell: tuple[str, int] | None

    @property
    def closed(self) -> bool:
        """True once the Lab is closed."""
        ...

    def close(self) -> None:
        """Close the Lab."""
        ...


L = TypeVar("L", bound=Claimant)


def _ipython_shell() -> Any:
    """The running IPython shell, or None. Never imports IPython: if it is not imported, no
    shell runs (tests replace this function with one returning a fake shell)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None) if ipython is not None else None
    if get is None:
        return None
    try:
        return get()
    except Exception:
        return None


def _is_cell_file(shell: Any, filename: str) -> bool:
    """Is ``filename`` the code name IPython gave a cell? ipykernel names a cell's code by a hash
    of its source (``<tmp>/ipykernel_<pid>/<hash>.py``), terminal IPython
    ``<ipython-input-N-hash>``; both are in the shell's compiler's map of cell names."""
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if isinstance(names, dict) and filename in names:
        return True
    if filename.startswith("<ipython-input-"):
        return True
    return os.path.basename(os.path.dirname(filename)).startswith("ipykernel_")


def _cell_identity(shell: Any = None, frame: FrameType | None = None) -> tuple[str, int] | None:
    """(cell, execution) for a Lab made now, or None outside IPython or if no cell is found.

    The cell is the notebook's ``cellId`` from the kernel's parent header metadata when the
    front end sends one (JupyterLab, Notebook 7, VS Code), else the code name of the outermost
    frame on the stack that is a cell's code (the cell being run, even when a function from
    another cell makes the Lab). The execution is the shell's execution count, which tells two
    runs of one cell apart."""
    shell = _ipython_shell() if shell is None else shell
    if shell is None:
        return None
    count = getattr(shell, "execution_count", None)
    if not isinstance(count, int):
        return None
    parent = getattr(shell, "parent_header", None)
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    if isinstance(cell_id, str) and cell_id:
        return f"cellId:{cell_id}", count
    f: FrameType | None = frame if frame is not None else sys._getframe(1)
    outermost: str | None = None
    while f is not None:
        name = f.f_code.co_filename
        if _is_cell_file(shell, name):
            outermost = name
        f = f.f_back
    if outermost is None:
        return None
    if outermost.startswith("<ipython-input-"):
        # terminal IPython puts the execution number in the name: keep the source hash only
        outermost = "<ipython-input-" + outermost.rstrip(">").rsplit("-", 1)[-1] + ">"
    return f"file:{outermost}", count


class OpenLabs(Generic[L]):
    """Every open Lab of the process, held weakly (a Lab nobody holds is still collected)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.labs: weakref.WeakSet[L] = weakref.WeakSet()

    def add(self, lab: L) -> None:
        """Record a new Lab."""
        with self.lock:
            self.labs.add(lab)

    def discard(self, lab: L) -> None:
        """Forget a Lab that is closing."""
        with self.lock:
            self.labs.discard(lab)

    def claim(self, lab: L, cell: str, execution: int) -> list[L]:
        """Record that ``lab`` was made by run ``execution`` of ``cell``, and close every
        other open Lab made by an earlier run of that cell. Returns the Labs it closed."""
        lab._cell = (cell, execution)
        with self.lock:
            stale = [
                other
                for other in self.labs
                if other is not lab
                and not other.closed
                and other._cell is not None
                and other._cell[0] == cell
                and other._cell[1] != execution
            ]
        for other in stale:
            try:
                other.close()
            except Exception as exc:  # the new Lab must not fail because an old one did
                warnings.warn(f"could not close {other!r} of an earlier run: {exc}", stacklevel=4)
        return stale

    def close_all(self) -> int:
        """Close every open Lab (on any runtime); returns how many it closed."""
        with self.lock:
            labs = [lab for lab in self.labs if not lab.closed]
        for lab in labs:
            try:
                lab.close()
            except Exception as exc:  # keep closing the others
                warnings.warn(f"could not close {lab!r}: {exc}", stacklevel=3)
        return len(labs)
