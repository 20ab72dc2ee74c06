"""HAM, Gun's conflict resolution, as one pure function (gun.js root ``ham``).

For an incoming (state, value) against what we hold:
- a state ahead of our machine clock is deferred until the clock gets there;
- an older state than ours is ignored;
- at equal states the JSON *text* decides: the incoming value wins only if its JavaScript
  ``JSON.stringify`` text is greater, comparing UTF-16 code units. So ``9`` beats ``10``
  (``"9" > "10"``), any number beats any string (``'5' > '"'``), and a link beats both;
- otherwise the incoming value is accepted.
"""

from __future__ import annotations

import enum
from typing import Any

from gunrtc_kit.core.codec import dumps, utf16_key

__all__ = ["Decision", "ham", "json_text_greater"]


class Decision(enum.Enum):
    ACCEPT = "accept"
    DEFER = "defer"
    HISTORICAL = "historical"
    EQUAL = "equal"


def json_text_greater(a: Any, b: Any) -> bool:
    """Is JavaScript's JSON text of ``a`` greater than that of ``b``?"""
    ta, tb = dumps(a), dumps(b)
    if ta.isascii() and tb.isascii():
        return ta > tb
    return utf16_key(ta) > utf16_key(tb)


def ham(
    machine: float, state: float, value: Any, current_state: float | None, current_value: Any
) -> Decision:
    """Gun's decision for one incoming key (``current_state`` None: we know no state, -inf).

    ``machine`` is our machine state now; callers with gun's ``faith`` (data from our own
    memory or disk) treat EQUAL as ACCEPT, as gun.js skips the equal-state rule for them.
    """
    # gun.js root ham: "if(state > now){ setTimeout(...) }" - the future waits, matched
    if state > machine:
        return Decision.DEFER
    was = float("-inf") if current_state is None else current_state
    if state < was:
        return Decision.HISTORICAL
    # gun.js: "state === was && (val === known || L(val) <= L(known))" with L = JSON.stringify
    if state == was and (
        value == current_value
        and type(value) is type(current_value)
        or not json_text_greater(value, current_value)
    ):
        return Decision.EQUAL
    return Decision.ACCEPT
