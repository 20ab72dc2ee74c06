"""The scan for long integer literals before a frame is decoded (``codec._has_long_digits``):
it replaced a regex that held the GIL 0.5-1 s on a 50 MB frame (docs/benchmarks.md, "Big
frames"), and must find every run of 16 ASCII digits the regex found, wherever the chunks it
reads split the frame, so that such a number is still read as JavaScript reads it."""

from __future__ import annotations

import random
import re

import pytest

from gunrtc_kit.core import codec

SIXTEEN = re.compile(r"[0-9]{16}")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "_CHUNK", 7)  # every run of 16 crosses a chunk boundary


def test_finds_what_the_regex_found_across_chunk_boundaries(small_chunks: None) -> None:
    rnd = random.Random(22)
    alphabet = "0123456789x,é\u4e2d\ud800٣"  # ASCII and other digits, non-ASCII, a lone surrogate
    found = 0
    for _ in range(20_000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60)))
        text += "1" * rnd.choice([0, 15, 16])
        want = SIXTEEN.search(text) is not None
        found += want
        assert codec._has_long_digits(text) is want, text
    assert found > 1000  # both answers were asked for


def test_a_long_integer_split_by_chunks_is_still_read_as_javascript_does(
    small_chunks: None,
) -> None:
    msgs, bad = codec.parse('{"#":"m","n":12345678901234567891,"s":"é"}')
    assert not bad and msgs[0]["n"] == float(12345678901234567891)
    assert isinstance(msgs[0]["n"], float)
    msgs, _ = codec.parse('{"#":"m","n":123456789012345,"m":"é٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣"}')
    assert msgs[0]["n"] == 123456789012345 and isinstance(msgs[0]["n"], int)
