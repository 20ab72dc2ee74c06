"""HAM converges: any order of delivering the same puts, with duplicates, gives one graph."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gunrtc_kit.core.graph import Graph

FAR = 1e15  # a machine state far ahead of every put: nothing defers

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-20, 20),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.text(max_size=3),
    st.builds(lambda s: {"#": s}, st.text(min_size=1, max_size=2)),
)
puts = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "10", "constructor"]),
        st.lists(
            st.tuples(st.sampled_from(["x", "y", "0", "z"]), st.integers(1, 4), values),
            min_size=1,
            max_size=3,
        ),
    ),
    min_size=1,
    max_size=12,
)


def as_put(soul: str, items: list[tuple[str, int, Any]]) -> dict[str, Any]:
    node: dict[str, Any] = {"_": {"#": soul, ">": {}}}
    for key, state, value in items:
        node["_"][">"][key] = state
        node[key] = value
    return {soul: node}


@given(puts, st.randoms(use_true_random=False))
@settings(max_examples=300)
def test_any_delivery_order_gives_the_same_graph(
    items: list[tuple[str, list[tuple[str, int, Any]]]], rnd: random.Random
) -> None:
    msgs = [as_put(soul, kv) for soul, kv in items]
    reference = Graph()
    for m in msgs:
        assert reference.merge(m, FAR).error is None
    shuffled = msgs + [rnd.choice(msgs) for _ in range(len(msgs))]  # duplicates too
    rnd.shuffle(shuffled)
    other = Graph()
    for m in shuffled:
        other.merge(m, FAR)
    assert other.nodes == reference.nodes
    # and delivering everything again changes nothing
    assert all(other.merge(m, FAR).accepted == 0 for m in msgs)


@given(puts)
@settings(max_examples=100)
def test_one_merged_put_equals_its_parts(
    items: list[tuple[str, list[tuple[str, int, Any]]]],
) -> None:
    parts = Graph()
    for soul, kv in items:
        parts.merge(as_put(soul, kv), FAR)
    again = Graph()
    for soul in parts.souls():
        node = parts.get_node(soul)
        assert node is not None
        again.merge({soul: node}, FAR)
    assert again.nodes == parts.nodes
