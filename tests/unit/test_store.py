"""The SQLite store keeps what it acknowledged and recovers from what it could not write.

Every failure here is a real SQLite failure (triggers that abort or roll back, a deferred foreign
key that fails at COMMIT, bytes overwritten in a file), not a mock: the bug this guards against
was the store's own idea of "a transaction is open" drifting from SQLite's.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gunrtc_kit.errors import StoreError
from gunrtc_kit.store import SQLiteStore


def put(soul: str, state: float = 1, **values: Any) -> dict[str, dict[str, Any]]:
    return {soul: {"_": {"#": soul, ">": dict.fromkeys(values, state)}, **values}}


def graph(path: Path) -> dict[str, dict[str, Any]]:
    store = SQLiteStore(path)
    try:
        return dict(store.load())
    finally:
        store.close()


def test_write_commit_load(tmp_path: Path) -> None:
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    s.write(put("a", 5, x=1, y="two", z={"#": "b"}))
    assert s.in_transaction
    s.write(put("a", 7.5, x=3))
    s.commit()
    assert not s.in_transaction
    s.close()
    assert graph(f) == {
        "a": {"_": {"#": "a", ">": {"x": 7.5, "y": 5, "z": 5}}, "x": 3, "y": "two", "z": {"#": "b"}}
    }


def test_lone_surrogates_and_astral_chars_round_trip_through_reopen(tmp_path: Path) -> None:
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    soul = "so\ud800ul"
    values = {"lone": "a\udfffb", "k\udbff": "\ud83d", "astral": "\U0001f600 x", "plain": "p"}
    s.write(put(soul, 3, **values))
    s.write(put("plain", 3, **{"\U0001f600": "\ud800\U0001f600"}))
    s.commit()
    s.close()
    g = graph(f)
    assert {k: v for k, v in g[soul].items() if k != "_"} == values
    assert g[soul]["_"][">"] == dict.fromkeys(values, 3)
    assert g["plain"]["\U0001f600"] == "\ud800\U0001f600"
    # the stored value text is the codec's escape, so any JSON reader gets the same string
    db = sqlite3.connect(f)
    texts = {r[0] for r in db.execute("SELECT value FROM graph")}
    db.close()
    assert '"a\\udfffb"' in texts
    # the same soul/key written again updates its row, it does not add one
    s = SQLiteStore(f)
    s.write(put(soul, 4, lone="again"))
    s.commit()
    s.close()
    assert graph(f)[soul]["lone"] == "again"
    db = sqlite3.connect(f)
    assert db.execute("SELECT count(*) FROM graph").fetchone()[0] == len(values) + 1
    db.close()


def test_a_value_json_cannot_hold_fails_the_write_and_rolls_back(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "g.sqlite3")
    s.write(put("a", 1, x=1))
    with pytest.raises(StoreError, match="cannot write"):
        s.write(put("a", 1, y={1, 2}))
    assert not s.in_transaction
    s.write(put("a", 2, z=3))
    s.commit()
    s.close()
    assert {k for k in graph(tmp_path / "g.sqlite3")["a"] if k != "_"} == {"z"}


@pytest.mark.parametrize("action", ["ROLLBACK", "ABORT"])
def test_a_failing_write_rolls_back_the_open_transaction_and_recovers(
    tmp_path: Path, action: str
) -> None:
    """RAISE(ROLLBACK) ends SQLite's transaction behind our back, RAISE(ABORT) keeps it open;
    either way every write since the last commit is gone and the next write works."""
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    s.db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON graph WHEN NEW.key = 'bad' "
        f"BEGIN SELECT RAISE({action}, 'refused by test'); END"
    )
    s.write(put("a", 1, kept=1))
    s.commit()
    s.write(put("a", 2, first=1))
    with pytest.raises(StoreError, match="refused by test"):
        s.write(put("a", 2, bad=1))
    assert not s.in_transaction
    assert not s.db.in_transaction
    s.write(put("a", 3, later=1))
    s.commit()
    s.close()
    assert {k for k in graph(f)["a"] if k != "_"} == {"kept", "later"}


def test_a_failing_commit_rolls_back_and_the_next_commit_works(tmp_path: Path) -> None:
    """A deferred foreign key fails at COMMIT and SQLite keeps the transaction open: the store
    must not leave it so (every later commit would fail too)."""
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    s.db.executescript(
        "CREATE TABLE parent (id TEXT PRIMARY KEY);"
        "CREATE TABLE child (pid TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER orphan AFTER INSERT ON graph WHEN NEW.key = 'bad' "
        "BEGIN INSERT INTO child VALUES ('nobody'); END;"
    )
    s.db.execute("PRAGMA foreign_keys=ON")
    s.write(put("a", 1, before=1))
    s.commit()
    s.write(put("a", 2, good=1))
    s.write(put("a", 2, bad=1))
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        s.commit()
    assert not s.in_transaction
    assert not s.db.in_transaction
    s.write(put("a", 3, after=1))
    s.commit()
    s.rollback()  # nothing open: no-op
    s.close()
    assert {k for k in graph(f)["a"] if k != "_"} == {"before", "after"}


def test_rollback_abandons_staged_writes(tmp_path: Path) -> None:
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    s.write(put("a", 1, x=1))
    s.rollback()
    assert not s.in_transaction
    s.close()
    s.close()
    assert graph(f) == {}


ROWS = 3000


def damaged_store(tmp_path: Path, tree: str = "graph") -> tuple[Path, dict[tuple[str, str], Any]]:
    """A real store of ROWS rows with 512-byte pages and two leaf pages of ``tree`` (the table
    or its index) overwritten."""
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    want: dict[tuple[str, str], Any] = {}
    for i in range(ROWS):
        soul = f"node/{i // 10}"
        s.write(put(soul, 1000 + i, **{f"k{i}": f"value {i}"}))
        want[(soul, f"k{i}")] = f"value {i}"
    s.commit()
    s.close()
    db = sqlite3.connect(f, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA page_size=512")
    db.execute("VACUUM")
    leaves = [
        r[0]
        for r in db.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (tree,),
        )
    ]
    db.close()
    assert len(leaves) > 20
    with open(f, "r+b") as fh:
        for page in (leaves[len(leaves) // 3], leaves[2 * len(leaves) // 3]):
            fh.seek((page - 1) * 512 + 8)  # keep nothing of the page header and cells
            fh.write(b"\xa5" * 504)
    return f, want


def test_a_damaged_file_raises_a_store_error_naming_the_damage(tmp_path: Path) -> None:
    f, _ = damaged_store(tmp_path)
    with pytest.raises(StoreError) as info:
        SQLiteStore(f)
    text = str(info.value)
    assert str(f) in text and "damaged" in text and "--salvage" in text
    assert "page" in text
    assert len(text.splitlines()) <= 10


def test_salvage_keeps_every_readable_row_and_reports_counts(tmp_path: Path) -> None:
    f, want = damaged_store(tmp_path)
    s = SQLiteStore(f, salvage=True)
    report = s.salvage_report
    got = {(soul, k): v for soul, node in s.load() for k, v in node.items() if k != "_"}
    s.close()
    assert report is not None
    lost = len(want) - len(got)
    assert 0 < lost <= 40, report  # two 512-byte leaf pages hold a few rows each
    assert f"kept {len(got)} rows" in report and f"lost {lost}" in report, report
    assert all(want[k] == v for k, v in got.items())
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("g.sqlite3.damaged-")]
    assert aside and str(aside[0]) in report
    # the fresh file is healthy: it opens without salvage and holds the same rows
    assert sum(len(n) - 1 for n in graph(f).values()) == len(got)
    db = sqlite3.connect(f)
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()


def test_damage_in_the_index_only_loses_no_row(tmp_path: Path) -> None:
    f, want = damaged_store(tmp_path, tree="sqlite_autoindex_graph_1")
    with pytest.raises(StoreError, match="page"):
        SQLiteStore(f)
    s = SQLiteStore(f, salvage=True)
    assert s.salvage_report is not None and f"kept {ROWS} rows, lost 0" in s.salvage_report
    got = {(soul, k): v for soul, node in s.load() for k, v in node.items() if k != "_"}
    s.close()
    assert got == want


def test_a_row_that_does_not_decode_is_named_and_salvage_drops_it(tmp_path: Path) -> None:
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    s.write(put("a", 1, good=1, broken=2))
    s.commit()
    s.close()
    db = sqlite3.connect(f)
    db.execute("UPDATE graph SET value = '{not json' WHERE key = 'broken'")
    db.commit()
    db.close()
    s = SQLiteStore(f)
    with pytest.raises(StoreError, match=r"(?s)key 'broken'.*not JSON.*--salvage"):
        dict(s.load())
    s.close()
    s = SQLiteStore(f, salvage=True)
    assert s.salvage_report is not None and "kept 1 rows, lost 1" in s.salvage_report
    assert dict(s.load())["a"] == {"_": {"#": "a", ">": {"good": 1}}, "good": 1}
    s.close()


def test_salvage_of_a_healthy_file_changes_nothing(tmp_path: Path) -> None:
    f = tmp_path / "g.sqlite3"
    s = SQLiteStore(f)
    s.write(put("a", 1, x=1))
    s.close()
    s = SQLiteStore(f, salvage=True)
    assert s.salvage_report is not None and "no damage" in s.salvage_report
    s.close()
    assert graph(f)["a"]["x"] == 1
    assert [p.name for p in tmp_path.iterdir() if "damaged" in p.name] == []


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    f = tmp_path / "g.sqlite3"
    f.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(StoreError, match="(?s)damaged.*not a database.*--salvage"):
        SQLiteStore(f)
    s = SQLiteStore(f, salvage=True)
    assert s.salvage_report is not None and "kept 0 rows, lost all" in s.salvage_report
    s.write(put("a", 1, x=json.loads("1")))
    s.close()
    assert graph(f)["a"]["x"] == 1
