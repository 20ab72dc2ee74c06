"""The graph: nodes by soul, merged through HAM, read by soul, key or lex.

A node is ``{'_': {'#': soul, '>': {key: state}}, key: value, ...}``. ``merge`` checks a put
node by node the way gun.js's root does, with its error texts (``Error: Invalid graph! ...``,
names cut to 9 characters), applying keys until the first error: keys before it stay applied
(gun.js does the same). Nodes are plain dicts keyed by soul, so souls such as ``constructor``,
``__proto__`` or ``big`` are ordinary strings here (npm gun's relay crashes on some of them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gunrtc_kit.core.codec import utf16_key, utf16_sorted
from gunrtc_kit.core.ham import Decision, ham
from gunrtc_kit.core.state import state_ify, state_of

__all__ = ["Deferred", "Graph", "MergeResult", "check_put", "lex_match", "valid_value"]

ERR = "Error: Invalid graph!"


def valid_value(v: Any) -> bool:
    """null, text, boolean, a finite number, or a link ``{'#': soul}`` (gun.js ``valid``)."""
    if v is None or isinstance(v, str | bool):
        return True
    if isinstance(v, int | float):
        return math.isfinite(v)
    return isinstance(v, dict) and len(v) == 1 and isinstance(v.get("#"), str) and bool(v["#"])


def _js_text(v: Any) -> str:
    """JavaScript ``'' + v`` for the values a put can hold, for error texts."""
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, dict):
        return "[object Object]"
    if isinstance(v, list):
        return ",".join("" if x is None else _js_text(x) for x in v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _js_type(v: Any) -> str:
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return "object"


def _cut(v: Any) -> str:
    return " '" + _js_text(v)[:9] + "...' "


def _truthy(v: Any) -> bool:
    """JavaScript truthiness of a parsed JSON value ({} and [] are truthy)."""
    if isinstance(v, dict | list):
        return True
    return bool(v)


@dataclass(slots=True)
class Deferred:
    soul: str
    key: str
    value: Any
    state: float

    @property
    def due(self) -> float:
        return self.state


@dataclass(slots=True)
class MergeResult:
    diff: dict[str, dict[str, Any]] = field(default_factory=dict)
    deferred: list[Deferred] = field(default_factory=list)
    error: str | None = None
    accepted: int = 0


def _node_error(soul: str, node: Any) -> tuple[str | None, Mapping[str, Any]]:
    if not _truthy(node):
        return ERR + _cut(soul) + "no node.", {}
    meta = node.get("_") if isinstance(node, dict) else None
    if not _truthy(meta):
        return ERR + _cut(soul) + "no meta.", {}
    if not isinstance(meta, dict) or meta.get("#") != soul:
        return ERR + _cut(soul) + "soul not same.", {}
    states = meta.get(">")
    if not _truthy(states):
        return ERR + _cut(soul) + "no state.", {}
    return None, states if isinstance(states, dict) else {}


def _key_error(soul: str, key: str, val: Any, states: Mapping[str, Any]) -> str | None:
    st = states.get(key)
    if st is None or isinstance(st, bool) or not isinstance(st, int | float):
        return ERR + _cut(key) + "on" + _cut(soul) + "no state."
    if not valid_value(val):
        return ERR + _cut(key) + "on" + _cut(soul) + "bad " + _js_type(val) + _cut(val)
    return None


def check_put(put: Any) -> str | None:
    """Gun's error text for the first problem in ``put``, or None when it is a valid graph."""
    if not isinstance(put, dict):
        return ERR + " put is not an object."
    for soul, node in put.items():
        err, states = _node_error(soul, node)
        if err:
            return err
        for key, val in node.items():
            if key != "_" and (err := _key_error(soul, key, val, states)):
                return err
    return None


def _js_lt(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a < b
    return utf16_key(a) < utf16_key(b)


def lex_match(key: Any, lex: Any) -> bool:
    """gun ``String.match``: '=' exact, '*' prefix, '>' / '<' inclusive range bounds.

    Mirrors the JavaScript line by line, truthiness included (an empty string bound counts
    as given for the range checks but not for the first equality test).
    """
    if not isinstance(key, str):
        return False
    if isinstance(lex, str):
        lex = {"=": lex}
    if not isinstance(lex, dict):
        lex = {}
    eq, star, gt, lt = lex.get("="), lex.get("*"), lex.get(">"), lex.get("<")
    first = eq or star or gt or lt
    if key == first:
        return True
    if eq is not None:
        return False
    pre = star or gt
    if isinstance(pre, str) and key[: len(pre)] == pre:
        return True
    if star is not None:
        return False
    gt_s = gt if isinstance(gt, str) else None
    lt_s = lt if isinstance(lt, str) else None
    if gt is not None and lt is not None:
        return (
            gt_s is not None
            and lt_s is not None
            and not _js_lt(key, gt_s)
            and not _js_lt(lt_s, key)
        )
    if gt_s is not None and not _js_lt(key, gt_s):
        return True
    return lt_s is not None and not _js_lt(lt_s, key)


class Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, soul: object) -> bool:
        return soul in self.nodes

    def souls(self) -> Iterator[str]:
        return iter(self.nodes)

    def merge(self, put: Mapping[str, Any], machine: float, faith: bool = False) -> MergeResult:
        """Run every key of ``put`` through HAM against this graph at machine state ``machine``."""
        res = MergeResult()
        if not isinstance(put, Mapping):
            res.error = ERR + " put is not an object."
            return res
        for soul, node in put.items():
            err, states = _node_error(soul, node)
            if err:
                res.error = err
                return res
            for key, val in node.items():
                if key == "_":
                    continue
                err = _key_error(soul, key, val, states)
                if err:
                    res.error = err
                    return res
                state = states[key]
                current = self.nodes.get(soul)
                decision = ham(
                    machine,
                    state,
                    val,
                    state_of(current, key),
                    current.get(key) if current else None,
                )
                if decision is Decision.DEFER:
                    res.deferred.append(Deferred(soul, key, val, state))
                    continue
                if decision is Decision.HISTORICAL or (decision is Decision.EQUAL and not faith):
                    continue
                if current is None:
                    current = self.nodes[soul] = {"_": {"#": soul, ">": {}}}
                state_ify(current, key, state, val, soul)
                state_ify(res.diff.setdefault(soul, {"_": {"#": soul, ">": {}}}), key, state, val)
                res.accepted += 1
        return res

    def get_node(self, soul: str) -> dict[str, Any] | None:
        node = self.nodes.get(soul)
        return None if node is None else _copy(node, soul, None)

    def read(self, get: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
        """Answer a GET's ``get`` field: ``{'#': soul or lex, '.': key or lex}``."""
        soul = get.get("#")
        key = get.get(".")
        if isinstance(soul, str):
            souls = [soul] if soul in self.nodes else []
        elif isinstance(soul, dict):
            souls = [s for s in self.nodes if lex_match(s, soul)]
        else:
            return None
        out: dict[str, dict[str, Any]] = {}
        for s in souls:
            node = _copy(self.nodes[s], s, key)
            if node is not None:
                out[s] = node
        return out or None

    def chunks(self, graph: Mapping[str, Mapping[str, Any]], size: int = 9) -> list[dict[str, Any]]:
        """Split a reply into gun's in-memory chunks: at most ``size`` keys per message, keys
        sorted, ``_`` counted but not copied (so a 12-key node goes out as 8 + 4)."""
        out: list[dict[str, Any]] = []
        for soul, node in graph.items():
            keys = utf16_sorted(node)
            states = node.get("_", {}).get(">", {})
            for i in range(0, max(len(keys), 1), size):
                part: dict[str, Any] = {"_": {"#": soul, ">": {}}}
                for k in keys[i : i + size]:
                    if k != "_":
                        state_ify(part, k, states.get(k), node[k])
                out.append({soul: part})
        return out


def _copy(node: Mapping[str, Any], soul: str, key: Any) -> dict[str, Any] | None:
    states = node.get("_", {}).get(">", {})
    if key is None:
        keys = [k for k in node if k != "_"]
    elif isinstance(key, str):
        if key not in node or key == "_":
            return None
        keys = [key]
    elif isinstance(key, dict):
        keys = [k for k in node if k != "_" and lex_match(k, key)]
        if key.get("-"):
            keys.reverse()
        if not keys:
            return None
    else:
        return None
    out: dict[str, Any] = {"_": {"#": soul, ">": {}}}
    for k in keys:
        out["_"][">"][k] = states.get(k)
        out[k] = node[k]
    return out
