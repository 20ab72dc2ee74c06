"""Which rows of a ``FateModel`` a view's filters keep: by peer (name or id), kind, soul, transport,
a pair of peers, and whether discovery and signalling are hidden.

Why a function over the model's columns: a view tests hundreds of thousands of rows, and a
closure over the column lists tests one by index without building a ``Row``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model calls this module; only its type is needed here
    from gunrtc_kit.diagnose.fate import FateModel

__all__ = ["row_matcher"]


def row_matcher(
    model: FateModel,
    *,
    peer: str = "",
    kind: str = "",
    soul: str = "",
    transport: str = "",
    hide_signaling: bool = False,
    pair: tuple[str, str] | None = None,
) -> Callable[[int], bool]:
    """A test on a column index of ``model`` for these filters (``peer`` is a name or an id;
    ``soul`` matches exactly, or as a prefix when it ends with ``*``)."""
    d = model.directory
    lanes_of_peer: set[int] = set()
    if peer:
        lanes_of_peer = {n for n, ent in enumerate(d.lanes) if peer in (ent, d.label(ent))} or {-2}
    pair_lanes: tuple[int, int] | None = None
    if pair:
        pair_lanes = (d.lane_of(pair[0]), d.lane_of(pair[1]))
    # a soul matches exactly; a trailing '*' asks for a prefix ("chat/*")
    prefix = soul[:-1] if soul.endswith("*") else None

    def soul_ok(s: str) -> bool:
        return s.startswith(prefix) if prefix is not None else s == soul

    c_src, c_dst, c_kind = model.c_src, model.c_dst, model.c_kind
    c_label, c_tr, c_sig, c_mid = model.c_label, model.c_tr, model.c_sig, model.c_mid
    msgs = model.msgs

    def match(i: int) -> bool:
        if hide_signaling and c_sig[i]:
            return False
        if kind and not c_kind[i].startswith(kind):
            return False
        if transport and c_tr[i] != transport:
            return False
        if lanes_of_peer and c_src[i] not in lanes_of_peer and c_dst[i] not in lanes_of_peer:
            return False
        if pair_lanes is not None and {c_src[i], c_dst[i]} != set(pair_lanes):
            return False
        if soul:
            info = msgs.get(c_mid[i])
            souls = info.souls if info is not None else (c_label[i],)
            if not any(soul_ok(s) for s in souls):
                return False
        return True

    return match
