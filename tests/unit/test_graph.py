"""Graph merge with gun's checks and error texts, reads, lex and chunks.

The error texts were printed by npm gun 0.2020.1241 (``root.on('in', {put})``, then
``msg.err``). A valid key ``z`` follows each bad key because gun itself misses an error on
the very last key of a put (its loop ends first); we report it anyway.
"""

from __future__ import annotations

from typing import Any

import pytest

from gunrtc_kit.core.graph import Deferred, Graph, check_put, lex_match, valid_value

FAR = 1e15
E = "Error: Invalid graph!"


def node(soul: str, state: float = 1, **kv: Any) -> dict[str, Any]:
    return {"_": {"#": soul, ">": {k: state for k in kv}}, **kv}


def bad(soul: str, value: Any, states: Any = None) -> dict[str, Any]:
    st = {"k": 1, "z": 1} if states is None else states
    return {soul: {"_": {"#": soul, ">": st}, "k": value, "z": 1}}


GUN_ERRORS: list[tuple[Any, str]] = [
    ({"s": None}, f"{E} 's...' no node."),
    ({"s12": 0}, f"{E} 's12...' no node."),
    ({"s": {"a": 1}}, f"{E} 's...' no meta."),
    ({"s9": {"_": 5, "k": 1}}, f"{E} 's9...' soul not same."),
    ({"s": {"_": {"#": "t", ">": {}}}}, f"{E} 's...' soul not same."),
    ({"s10": {"_": {"#": "s10"}, "k": 1}}, f"{E} 's10...' no state."),
    ({"s11": {"_": {"#": "s11", ">": 0}, "k": 1}}, f"{E} 's11...' no state."),
    (bad("s8", 1, states=5), f"{E} 'k...' on 's8...' no state."),
    (
        {"s2": {"_": {"#": "s2", ">": {}}, "2": 1, "b": [3]}},
        f"{E} '2...' on 's2...' no state.",
    ),
    (bad("abcdefghijkl", [1, 2]), f"{E} 'k...' on 'abcdefghi...' bad object '1,2...' "),
    (
        {"😀😀😀😀😀x": {"_": {"#": "😀😀😀😀😀x", ">": {"z": 1}}, "k": 1, "z": 1}},
        f"{E} 'k...' on '😀😀😀😀\ud83d...' no state.",
    ),
    (bad("s3", {"#": "a", "x": 1}), f"{E} 'k...' on 's3...' bad object '[object O...' "),
    (
        bad("s4", [[1, None], {"a": 1}, 1.5e-7, True, []]),
        f"{E} 'k...' on 's4...' bad object '1,,[objec...' ",
    ),
    (bad("s5", {"#": ""}), f"{E} 'k...' on 's5...' bad object '[object O...' "),
    (bad("s6", {}), f"{E} 'k...' on 's6...' bad object '[object O...' "),
    ("abc", f"{E} '0...' no meta."),
    ([5], f"{E} '0...' no meta."),
    (
        {"b": {"_": {"#": "b", ">": {"a": 1, "2": 1, "1": 1}}, "a": {"x": 1}, "2": [], "1": 1}},
        f"{E} '2...' on 'b...' bad object '...' ",  # integer keys first: '1' ok, then '2'
    ),
]


@pytest.mark.parametrize(("put", "err"), GUN_ERRORS)
def test_invalid_graph_texts_match_gun(put: Any, err: str) -> None:
    assert check_put(put) == err
    assert Graph().merge(put, FAR).error == err


def test_keys_before_the_error_stay_applied_in_gun_order() -> None:
    g = Graph()
    res = g.merge({"ok": node("ok", a=1), "bad": {"a": 1}}, FAR)
    assert res.error == f"{E} 'bad...' no meta." and res.accepted == 1 and g.nodes["ok"]["a"] == 1
    g = Graph()
    put = {"b": {"_": {"#": "b", ">": {"a": 1, "2": 1, "1": 1}}, "a": {"x": 1}, "2": [], "1": 1}}
    res = g.merge(put, FAR)
    assert g.nodes == {"b": {"_": {"#": "b", ">": {"1": 1}}, "1": 1}}  # as gun's root.graph
    assert res.diff == g.nodes and res.accepted == 1


def test_gun_quirks_matched() -> None:
    g = Graph()
    # an empty key is skipped unchecked (gun's key loop stops on the falsy '')
    res = g.merge({"e": {"_": {"#": "e", ">": {"a": 1, "": 1}}, "a": 1, "": "x", "b": 2}}, FAR)
    assert res.error == f"{E} 'b...' on 'e...' no state."
    res = g.merge({"e": {"_": {"#": "e", ">": {"a": 1, "b": 1}}, "a": 1, "": "x", "b": 2}}, FAR)
    assert res.error is None and g.nodes["e"] == node("e", 1, a=1, b=2)
    # an empty soul ends the put: later souls are never looked at
    res = g.merge({"f": node("f", a=1), "": {"x": 1}, "g": {"bad": 1}}, FAR)
    assert res.error is None and "f" in g and "g" not in g
    # the internal single-key form is ignored, not an error
    single = {"#": "s", ".": "k", ":": 1, ">": 1}
    assert check_put(single) is None and Graph().merge(single, FAR).accepted == 0


def test_we_refuse_non_number_states_where_gun_writes_stateless_values() -> None:
    for st in ("1", None, True):
        put = {"s7": {"_": {"#": "s7", ">": {"k": st}}, "k": 1}}
        assert check_put(put) == f"{E} 'k...' on 's7...' no state."
    assert check_put(5) == f"{E} put is not an object."


@pytest.mark.parametrize(
    ("v", "ok"),
    [
        (None, True),
        ("", True),
        (True, True),
        (0, True),
        (-1.5, True),
        ({"#": "a"}, True),
        (float("nan"), False),
        (float("inf"), False),
        ({"#": ""}, False),
        ({"#": 5}, False),
        ({"#": "a", ">": 1}, False),
        ([], False),
        ({}, False),
    ],
)
def test_valid_value(v: Any, ok: bool) -> None:
    assert valid_value(v) is ok


def test_merge_diff_defer_and_faith() -> None:
    g = Graph()
    res = g.merge({"s": node("s", 5, a=1, b="x")}, machine=10)
    assert res.accepted == 2 and res.diff == {"s": node("s", 5, a=1, b="x")}
    res = g.merge({"s": node("s", 50, a=2, b="y")}, machine=10)
    assert res.accepted == 0 and not res.diff
    assert res.deferred == [Deferred("s", "a", 2, 50), Deferred("s", "b", "y", 50)]
    assert [d.due for d in res.deferred] == [50, 50]
    assert g.nodes["s"]["a"] == 1  # not applied until the clock gets there
    assert g.merge({"s": node("s", 50, a=2)}, machine=50).accepted == 1
    # equal state and equal text: ignored, unless the put comes from our own memory (faith)
    assert g.merge({"s": node("s", 5, b="x")}, 60).accepted == 0
    assert g.merge({"s": node("s", 5, b="x")}, 60, faith=True).accepted == 1
    # older: ignored even with faith
    assert g.merge({"s": node("s", 1, b="zz")}, 60, faith=True).accepted == 0


def test_reads() -> None:
    g = Graph()
    g.merge({"chat": node("chat", 1, **{"2024-01": "a", "2024-02": "b", "2025-01": "c"})}, FAR)
    whole = g.read({"#": "chat"})
    assert whole == {"chat": g.nodes["chat"]} and whole["chat"] is not g.nodes["chat"]
    assert g.read({"#": "chat", ".": ""}) == whole  # gun: a falsy '.' is the whole node
    assert g.read({"#": "chat", ".": "2024-02"}) == {"chat": node("chat", 1, **{"2024-02": "b"})}
    assert g.read({"#": "chat", ".": "nope"}) is None
    assert g.read({"#": "chat", ".": "_"}) is None
    assert g.read({"#": "nothing"}) is None
    assert g.read({"#": 5}) is None
    copy = g.get_node("chat")
    assert copy is not None
    copy["_"][">"]["2024-01"] = 99
    assert g.nodes["chat"]["_"][">"]["2024-01"] == 1  # safe to change


def test_lex_reads() -> None:
    g = Graph()
    g.merge({"chat": node("chat", 1, **{"2024-01": "a", "2024-02": "b", "2025-01": "c"})}, FAR)
    for soul in ("user/b", "user/a", "other"):
        g.merge({soul: node(soul, 1, v=1)}, FAR)

    def keys(get: dict[str, Any]) -> list[str]:
        got = g.read(get)
        assert got is not None
        return [k for k in got["chat"] if k != "_"]

    assert keys({"#": "chat", ".": {"*": "2024-"}}) == ["2024-01", "2024-02"]
    assert keys({"#": "chat", ".": {">": "2024-02", "<": "2025-01"}}) == ["2024-02", "2025-01"]
    assert keys({"#": "chat", ".": {">": "2024-02", "-": 1}}) == ["2025-01", "2024-02"]
    assert keys({"#": "chat", ".": {"=": "2025-01"}}) == ["2025-01"]
    assert g.read({"#": "chat", ".": {"*": "1999"}}) is None
    assert list(g.read({"#": {"*": "user/"}}) or {}) == ["user/a", "user/b"]
    assert list(g.read({"#": {"*": "user/"}, "-": True}) or {}) == ["user/b", "user/a"]
    assert len(g.read({"#": {"*": ""}}) or {}) == 4  # radisk: '' prefixes every soul
    assert list(g.read({"#": {">": "u"}}) or {}) == ["user/a", "user/b"]


@pytest.mark.parametrize(
    ("key", "lex", "hit"),
    [
        ("abc", "abc", True),
        ("abc", {"=": "ab"}, False),
        ("abc", {"=": None}, False),  # present, so '=' decides (gun: u !== o['='])
        ("abc", {"*": "ab"}, True),
        ("abc", {"*": "b"}, False),
        ("abc", {"*": ""}, False),  # String.match: an empty prefix matches nothing
        ("abc", {"*": "", ">": "a"}, True),  # '' || 'a': the prefix is 'a'
        ("abc", {">": ""}, True),
        ("b", {">": "a"}, True),
        ("a", {">": "a"}, True),
        ("a", {">": "b"}, False),
        ("m", {">": "a", "<": "z"}, True),
        ("z", {">": "a", "<": "z"}, True),
        ("zz", {">": "a", "<": "z"}, False),
        ("a", {"<": "b"}, True),
        ("c", {"<": "b"}, False),
        ("\uffff", {">": "😀"}, True),  # UTF-16 order
        ("x", {}, False),
        ("x", None, False),
        (5, "5", False),
    ],
)
def test_lex_match_is_string_match(key: Any, lex: Any, hit: bool) -> None:
    assert lex_match(key, lex) is hit


def test_chunks_count_meta_like_gun() -> None:
    g = Graph()
    g.merge({"chunky": node("chunky", 1, **{f"k{i:02}": i for i in range(12)})}, FAR)
    parts = g.chunks(g.read({"#": "chunky"}) or {})
    keys = [[k for k in p["chunky"] if k != "_"] for p in parts]
    # npm gun answers [8, 4] here: "_" sorts before lowercase keys and takes one of 9 slots
    assert [len(k) for k in keys] == [8, 4]
    assert keys[0] == [f"k{i:02}" for i in range(8)]
    for p, ks in zip(parts, keys, strict=True):
        assert p["chunky"]["_"] == {"#": "chunky", ">": {k: 1 for k in ks}}


def test_chunks_put_meta_where_it_sorts() -> None:
    g = Graph()
    g.merge({"up": node("up", 1, **{chr(65 + i): i for i in range(12)})}, FAR)  # 'A'..'L'
    parts = g.chunks(g.read({"#": "up"}) or {})
    sizes = [len([k for k in p["up"] if k != "_"]) for p in parts]
    assert sizes == [9, 3]  # npm gun too: "_" (0x5F) sorts after "L", in the second chunk
    assert g.chunks({"e": {"_": {"#": "e", ">": {}}}}) == [{"e": {"_": {"#": "e", ">": {}}}}]
    many = g.chunks({"s": node("s", 1, **{f"k{i}": i for i in range(3)})}, size=2)
    assert [len(p["s"]) - 1 for p in many] == [1, 2]


def test_js_builtin_souls_are_plain_keys() -> None:
    g = Graph()
    for soul in ["constructor", "__proto__", "toString", "big", "hasOwnProperty"]:
        assert g.merge({soul: node(soul, 1, v=soul)}, FAR).accepted == 1
        assert (g.read({"#": soul}) or {})[soul]["v"] == soul
    assert len(g) == 5 and "big" in g and sorted(g.souls())[0] == "__proto__"
