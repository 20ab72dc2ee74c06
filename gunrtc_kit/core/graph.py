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
from typing import Any, Protocol

from gunrtc_kit.core.codec import js_keys, js_number, js_slice, utf16_key, utf16_sorted
from gunrtc_kit.core.ham import Decision, ham
from gunrtc_kit.core.state import state_ify

__all__ = [
    "Deferred",
    "Graph",
    "MergeResult",
    "NodeSource",
    "check_put",
    "lex_bounds",
    "lex_match",
    "valid_value",
]

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
    if isinstance(v, list):  # Array#join: null becomes '', nested arrays join again
        return ",".join("" if x is None else _js_text(x) for x in v)
    if isinstance(v, int | float):
        if math.isfinite(v):
            return js_number(v)
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
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
    # gun.js root: cut = " '"+(''+s).slice(0,9)+"...' " - 9 UTF-16 units, matched on purpose
    return " '" + js_slice(_js_text(v), 9) + "...' "


def _truthy(v: Any) -> bool:
    """JavaScript truthiness of a parsed JSON value ({} and [] are truthy)."""
    if isinstance(v, dict | list):
        return True
    return bool(v)


def _is_state(s: Any) -> bool:
    return isinstance(s, int | float) and not isinstance(s, bool) and s == s


@dataclass(slots=True)
class Deferred:
    """A key whose state is ahead of our machine clock: apply it once the clock reaches ``due``."""

    soul: str
    key: str
    value: Any
    state: float
    due: float = math.nan  # the machine state at which it may be applied: ``state``

    def __post_init__(self) -> None:
        if self.due != self.due:
            self.due = self.state


@dataclass(slots=True)
class MergeResult:
    """What a merge did: the accepted keys as a graph, the deferred keys, the first error."""

    diff: dict[str, dict[str, Any]] = field(default_factory=dict)
    deferred: list[Deferred] = field(default_factory=list)
    error: str | None = None
    accepted: int = 0


def _souls(put: Any) -> list[Any]:
    """The souls gun's put loop visits: ``Object.keys(put)``, up to the first empty soul.

    gun.js ``put``: ``if(!(soul = nl[ni])){ fire(ctx); return }`` - an empty-string soul ends
    the loop as if the put were done, so the souls after it are never looked at. Matched.
    A string or an array put is walked by index, as ``Object.keys`` does in JavaScript.
    """
    if isinstance(put, dict):
        keys = js_keys(put)
    else:
        keys = [str(i) for i in range(len(put))]
    if "" in keys:
        keys = keys[: keys.index("")]
    return keys


def _node_of(put: Any, soul: str) -> Any:
    return put[soul] if isinstance(put, dict) else put[int(soul)]


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


def _keys(node: dict[str, Any]) -> list[str]:
    """The keys gun's put loop checks: ``Object.keys(node)`` without ``_`` and ``''``.

    gun.js ``while(o++ < 9 && (key = kl[i++]))`` stops its batch on the falsy key ``''`` and
    carries on after it, so an empty key is skipped without a check. Matched.
    """
    return [k for k in js_keys(node) if k != "_" and k != ""]


def _key_error(soul: str, key: str, val: Any, states: Mapping[str, Any]) -> str | None:
    # gun.js only errors when the state is *undefined*; a null or string state slips through
    # and writes the value with no state. We refuse any state that is not a number, with
    # gun's "no state." text.
    if not _is_state(states.get(key)):
        return ERR + _cut(key) + "on" + _cut(soul) + "no state."
    if not valid_value(val):
        return ERR + _cut(key) + "on" + _cut(soul) + "bad " + _js_type(val) + _cut(val)
    return None


def _states_of(node: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``>`` states of a node we hold, when its meta is the usual dicts (else None: the
    slow, general path of ``state_ify`` writes it)."""
    if node is None:
        return None
    meta = node.get("_")
    if not isinstance(meta, dict):
        return None
    states = meta.get(">")
    return states if isinstance(states, dict) else None


def _single_key_form(put: Any) -> bool:
    # gun.js put: "if(put['#'] && put['.']){ return }" - the internal {'#','.',':','>'} form
    return isinstance(put, dict) and _truthy(put.get("#")) and _truthy(put.get("."))


def check_put(put: Any) -> str | None:
    """Gun's error text for the first problem in ``put``, or None when gun would take it.

    Problems are found in gun's order (souls and keys in ``Object.keys`` order). Differences
    from npm gun, on purpose: a put that is not an object, array or string gets our own text
    (gun walks no souls and says nothing), a non-number state is an error (gun writes the
    value without a state), and a bad last key of the last node is reported (gun's loop ends
    before it looks at the error and relays the put without that key).
    """
    if not isinstance(put, dict | list | str):
        return ERR + " put is not an object."
    if _single_key_form(put):
        return None
    for soul in _souls(put):
        node = _node_of(put, soul)
        err, states = _node_error(soul, node)
        if err:
            return err
        for key in _keys(node):
            if err := _key_error(soul, key, node[key], states):
                return err
    return None


def _js_lt(a: str, b: str) -> bool:
    if a.isascii() and b.isascii():
        return a < b
    return utf16_key(a) < utf16_key(b)


def _js_or(*vals: Any) -> Any:
    """JavaScript ``a || b || ...``: the first truthy value, else the last one."""
    for v in vals:
        if _truthy(v):
            return v
    return vals[-1]


def lex_match(key: Any, lex: Any) -> bool:
    """gun ``String.match(t, o)``: '=' exact, '*' prefix, '>' / '<' inclusive bounds.

    Follows the JavaScript line by line, with its truthiness and ``undefined`` checks: a
    bound that is present (even null) counts as given, an empty one does not start a prefix,
    so ``{'*': ''}`` matches nothing here (radisk's own queries treat it as "everything").
    """
    if not isinstance(key, str):
        return False
    if isinstance(lex, str):
        lex = {"=": lex}
    if not isinstance(lex, dict):
        lex = {}
    first = _js_or(lex.get("="), lex.get("*"), lex.get(">"), lex.get("<"))
    if isinstance(first, str) and key == first:
        return True
    if "=" in lex:
        return False
    pre = _js_or(lex.get("*"), lex.get(">"))
    if isinstance(pre, str) and key.startswith(pre):  # '' only when '>' is '': all match
        return True
    if "*" in lex:
        return False
    gt, lt = lex.get(">"), lex.get("<")
    if ">" in lex and "<" in lex:
        return (
            isinstance(gt, str)
            and isinstance(lt, str)
            and not _js_lt(key, gt)
            and not _js_lt(lt, key)
        )
    if ">" in lex and isinstance(gt, str) and not _js_lt(key, gt):
        return True
    return "<" in lex and isinstance(lt, str) and not _js_lt(lt, key)


def _query_match(name: str, lex: Any) -> bool:
    """A lex in a GET: ``String.match``, except that a ``'*'`` prefix is a plain prefix.

    gun answers lex GETs from storage, and radisk reads ``'*'`` as a prefix of the tree,
    so ``{'*': ''}`` there means every name (the known "get everything" query).
    """
    if isinstance(lex, dict) and isinstance(lex.get("*"), str):
        return name.startswith(lex["*"])
    return lex_match(name, lex)


def _reverse(*lexes: Any) -> bool:
    return any(isinstance(x, dict) and _truthy(x.get("-")) for x in lexes)


class NodeSource(Protocol):
    """Where a graph whose memory is only a cache finds every node (``SQLiteStore``)."""

    def iter_nodes(
        self, lo: str | None = None, hi: str | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The nodes whose soul is in ``[lo, hi)`` in code point order (None: unbounded),
        read a slice at a time."""
        ...


Range = tuple[str | None, str | None]


def _safe(s: str) -> str:
    """``s`` up to its first character at or past U+D800: on that part, UTF-16 order (gun's)
    and code point order (SQLite's, Python's) agree, and it encodes as UTF-8."""
    for i, ch in enumerate(s):
        if ch >= "\ud800":
            return s[:i]
    return s


def _after(prefix: str) -> str | None:
    """The least string past every string that starts with ``prefix`` (None: no bound),
    for a ``prefix`` of characters below U+D800."""
    if not prefix:
        return None
    nxt = chr(ord(prefix[-1]) + 1)
    return prefix[:-1] + ("\ue000" if nxt == "\ud800" else nxt)


def _prefixed(prefix: str) -> Range:
    cut = _safe(prefix)
    return cut, _after(cut)


def _exactly(name: str) -> Range:
    return (name, name + "\x00") if _safe(name) == name else _prefixed(name)


def lex_bounds(lex: Any) -> list[Range]:
    """Ranges of names, in code point order, that hold every name ``lex`` can match in a
    GET (``_query_match``): a store reads these by its index and the match is then checked
    name by name, so the ranges only need to hold the matches (they may hold more). An empty
    list: nothing can match. A bound that does not fit is widened (``_safe``).
    """
    if isinstance(lex, str):
        return [_exactly(lex)]
    if not isinstance(lex, dict):
        lex = {}
    if isinstance(lex.get("*"), str):
        return [_prefixed(lex["*"])]
    out: list[Range] = []
    first = _js_or(lex.get("="), lex.get("*"), lex.get(">"), lex.get("<"))
    if isinstance(first, str):
        out.append(_exactly(first))
    if "=" in lex:
        return out
    pre = _js_or(lex.get("*"), lex.get(">"))
    if isinstance(pre, str):
        out.append(_prefixed(pre))
    if "*" in lex:
        return out
    gt, lt = lex.get(">"), lex.get("<")
    lo = _safe(gt) if isinstance(gt, str) else None
    hi = _after(_safe(lt)) if isinstance(lt, str) else None
    if ">" in lex and "<" in lex:
        if isinstance(gt, str) and isinstance(lt, str):
            out.append((lo, hi))
    elif ">" in lex and isinstance(gt, str):
        out.append((lo, None))
    elif "<" in lex and isinstance(lt, str):
        out.append((None, hi))
    return out


def _cover(ranges: list[Range]) -> Range:
    """One range holding all of ``ranges`` (read once, filtered after)."""
    lows = [lo for lo, _ in ranges]
    highs = [hi for _, hi in ranges]
    return (
        None if None in lows else min(lo for lo in lows if lo is not None),
        None if None in highs else max(hi for hi in highs if hi is not None),
    )


class Graph:
    """Nodes by soul, as plain dicts: ``{'_': {'#': soul, '>': {key: state}}, key: value}``.

    ``nodes`` is a plain dict by default: memory is the graph. A root with a store passes a
    cache of the store (a dict that reads through on a miss, ``root.cache.NodeCache``) and
    the store as ``source``: lex GETs then read the source by its index, not memory.
    """

    def __init__(
        self, nodes: dict[str, dict[str, Any]] | None = None, source: NodeSource | None = None
    ) -> None:
        self.nodes: dict[str, dict[str, Any]] = {} if nodes is None else nodes
        self.source = source

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, soul: object) -> bool:
        return soul in self.nodes

    def souls(self) -> Iterator[str]:
        return iter(self.nodes)

    def merge(self, put: Mapping[str, Any], machine: float, faith: bool = False) -> MergeResult:
        """Run every key of ``put`` through HAM against this graph at machine state ``machine``.

        Checks and HAM are interleaved key by key in gun's order, so on the first error the
        keys before it stay applied (gun.js root ``put``). ``faith`` is gun's ``ctx.faith``,
        set on data that came from our own memory or disk: the equal-state rule is skipped
        and an equal-state value is written again (counted as accepted).
        """
        res = MergeResult()
        if not isinstance(put, dict | list | str):
            res.error = ERR + " put is not an object."
            return res
        if _single_key_form(put):
            return res
        nodes = self.nodes
        for soul in _souls(put):
            node = _node_of(put, soul)
            err, states = _node_error(soul, node)
            if err:
                res.error = err
                return res
            # the node we hold and its states, looked up once per soul (every put goes
            # through here: state_of, ham and state_ify inlined for the usual branches)
            current = nodes.get(soul)
            cstates = _states_of(current)
            dnode: dict[str, Any] | None = None
            for key in _keys(node):
                val = node[key]
                err = _key_error(soul, key, val, states)
                if err:
                    res.error = err
                    return res
                state = states[key]
                if state > machine:  # ham: a future state waits (gun.js setTimeout)
                    res.deferred.append(Deferred(soul, key, val, state))
                    continue
                if current is None:
                    was: Any = -math.inf
                else:  # state_of: a key without a numeric state is -inf
                    was = cstates.get(key) if cstates is not None else None
                    if not isinstance(was, int | float) or isinstance(was, bool):
                        was = -math.inf
                if state < was:
                    continue  # HISTORICAL
                if state == was:
                    decision = ham(machine, state, val, was, current.get(key) if current else None)
                    if decision is Decision.DEFER:
                        res.deferred.append(Deferred(soul, key, val, state))
                        continue
                    if decision is Decision.HISTORICAL or (
                        decision is Decision.EQUAL and not faith
                    ):
                        continue
                if current is None or cstates is None:
                    if current is None:
                        current = nodes[soul] = {"_": {"#": soul, ">": {}}}
                    state_ify(current, key, state, val, soul)
                    cstates = _states_of(current)
                else:
                    current["_"]["#"] = soul
                    cstates[key] = state
                    current[key] = val
                if dnode is None:
                    dnode = res.diff.get(soul)
                    if dnode is None:
                        dnode = res.diff[soul] = {"_": {"#": soul, ">": {}}}
                dnode["_"][">"][key] = state
                dnode[key] = val
                res.accepted += 1
        return res

    def get_node(self, soul: str) -> dict[str, Any] | None:
        """A copy of the node (its meta copied too), safe to send or change."""
        node = self.nodes.get(soul)
        return None if node is None else _copy(node, soul, None)

    def read(
        self, get: Mapping[str, Any], limit: int | None = None
    ) -> dict[str, dict[str, Any]] | None:
        """Answer a GET's ``get`` field: ``{'#': soul or lex, '.': key or lex}``.

        As gun.js ``Gun.on.get``: a missing or empty ``'.'`` asks for the whole node, a key
        GET gets a node holding that key only, and nothing at all when the key is absent.
        Lex ``'.'`` and lex ``'#'`` (gun answers those from storage) follow ``lex_match``,
        with radisk's plain prefix for ``'*'``; matching souls come in sorted order,
        reversed by a truthy ``'-'`` (in the lex or in ``get``). ``'%'`` is not applied.
        ``limit``: at most this many souls (the first of ``read_iter``'s order; with a
        ``source``, code point order, which differs from gun's UTF-16 order only between
        characters past U+FFFF and those from U+E000 to U+FFFF).
        """
        out: dict[str, dict[str, Any]] = {}
        for soul, node in self.read_iter(get):
            out[soul] = node
            if limit is not None and len(out) >= limit:
                break
        if self.source is not None and isinstance(get.get("#"), dict) and len(out) > 1:
            order = utf16_sorted(out)
            if self._reversed(get):
                order.reverse()
            out = {s: out[s] for s in order}
        return out or None

    @staticmethod
    def _reversed(get: Mapping[str, Any]) -> bool:
        return _truthy(get.get("-")) or _reverse(get.get("#"), get.get("."))

    def read_iter(self, get: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """``read``'s answer one soul at a time, lazily: a caller sending a big answer in
        slices takes the next souls when it is ready for them. Without a ``source`` a lex
        GET matches the souls in memory (sorted, as gun); with one, the source is read by
        its index a slice at a time (its order), and memory is not scanned."""
        soul = get.get("#")
        key = get.get(".")
        reverse = self._reversed(get)
        wanted = key if _truthy(key) else None
        if isinstance(soul, str):
            node = self.nodes.get(soul)
            found = None if node is None else _copy(node, soul, wanted, reverse)
            if found is not None:
                yield soul, found
            return
        if not isinstance(soul, dict):
            return
        for s, node in self._matching(soul, reverse):
            found = _copy(node, s, wanted, reverse)
            if found is not None:
                yield s, found

    def _matching(self, lex: dict[str, Any], reverse: bool) -> Iterator[tuple[str, Any]]:
        """The nodes whose soul ``lex`` matches: from memory, or read from the source."""
        if self.source is None:
            souls = utf16_sorted(s for s in self.nodes if _query_match(s, lex))
            if reverse:
                souls.reverse()
            for s in souls:
                yield s, self.nodes[s]
            return
        ranges = lex_bounds(lex)
        if not ranges:
            return
        lo, hi = _cover(ranges)
        held = self.nodes
        for s, stored in self.source.iter_nodes(lo, hi, reverse=reverse):
            if _query_match(s, lex):
                # memory, when it holds the soul, is the same as the store or newer
                yield s, dict.get(held, s) or stored

    def chunks(self, graph: Mapping[str, Mapping[str, Any]], size: int = 9) -> list[dict[str, Any]]:
        """Split a reply graph into gun's in-memory GET replies, one graph per message.

        gun.js ``Gun.on.get.ack``: ``keys = Object.keys(node).sort()`` and at most 9 of them
        per message, ``'_'`` included: it takes one slot but copies nothing (each chunk gets
        its own ``_`` meta). So a 12-key node goes out as 8 + 4 keys, as observed from npm gun
        (gun-wire 7.2).
        """
        if size < 1:
            raise ValueError(f"size={size!r}, expected an int >= 1")
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


def _copy(
    node: Mapping[str, Any], soul: str, key: Any, reverse: bool = False
) -> dict[str, Any] | None:
    states = node.get("_", {}).get(">", {})
    if key is None:
        keys = [k for k in node if k != "_"]
    elif isinstance(key, str):
        if key not in node or key == "_":
            return None
        keys = [key]
    elif isinstance(key, dict):
        keys = utf16_sorted(k for k in node if k != "_" and _query_match(k, key))
        if reverse:
            keys.reverse()
        if not keys:
            return None
    else:
        return None
    out: dict[str, Any] = {"_": {"#": soul, ">": {}}}
    meta = out["_"][">"]
    for k in keys:
        if k in states:
            meta[k] = states[k]
        out[k] = node[k]
    return out
