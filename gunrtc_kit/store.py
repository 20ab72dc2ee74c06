"""Where a relay keeps its graph: SQLite on disk, so a restart loses no acknowledged write.

One row per (soul, key) with the value as JSON text and its HAM state. Writes made during one
turn of the loop are committed together (group commit) before their acks are sent, so an ack
always means "committed". WAL mode keeps readers and the writer apart; ``synchronous=NORMAL``
makes a commit survive the process dying (``kill -9``), though not a power cut.

Reads: a relay does not load the store; its root keeps a cache of it (``root.cache``) and
reads a node when asked for it (``read_node``, by the primary key) and lex GETs by a range of
the index, a slice of ``SCAN_ROWS`` rows per query (``iter_nodes``). ``load`` reads every row,
for tools and tests. ``queries`` and ``rows_read`` count what the reads cost.

Why the care around failures: SQLite may roll a transaction back by itself (a full disk, an I/O
error, ``RAISE(ROLLBACK)``) or keep it open after a failed ``COMMIT`` (a deferred constraint). A
flag of our own would go stale either way and break every later write, so ``in_transaction`` is
SQLite's own, and any failing ``write`` or ``commit`` abandons the whole open transaction (every
write since the last commit, which the root rolls back in memory too) and raises ``StoreError``:
the next write starts clean.

Text: a JavaScript string may hold a lone surrogate, which UTF-8 cannot encode. Values are stored
as the codec's JS-exact JSON (a lone surrogate becomes a ``\\udxxx`` escape, which ``json.loads``
turns back into the same ``str``). A soul or key is stored as TEXT when it is valid Unicode and,
only when it holds a lone surrogate, as a BLOB of its UTF-8 bytes with the surrogate passed
through: one ``str`` always maps to the same SQLite value, so the primary key stays unique and
files written before keep working.

A damaged file (a bad page, a row that does not decode) is found when the store opens
(``PRAGMA quick_check``, for a file up to ``CHECK_BYTES``, or any size with ``check=True``)
or when a read reaches it; the ``StoreError`` names what is bad. ``salvage=True`` instead
moves the damaged file aside, copies every row that can still be read into a fresh file and
says how many rows it kept and lost in ``salvage_report``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gunrtc_kit.core.codec import dumps
from gunrtc_kit.errors import StoreError

__all__ = ["CHECK_BYTES", "SCAN_ROWS", "SQLiteStore"]

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS graph (soul TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, state REAL NOT NULL, PRIMARY KEY (soul, key))"
)
_UPSERT = (
    "INSERT INTO graph (soul, key, value, state) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (soul, key) DO UPDATE SET value = excluded.value, state = excluded.state"
)
_ROWS = "SELECT rowid, soul, key, value, state FROM graph"
_NODE = _ROWS + " WHERE soul = ?"
# a store up to this size is checked whole when it opens (``PRAGMA quick_check`` reads every
# page: measured 0.47 s for a file of 1M souls, 107 MB, and 16.6 s for 10M, 1.1 GB, in the page
# cache); past it, opening must not cost a read of everything (10M souls start in 0.14 s)
CHECK_BYTES = 256 * 2**20
SCAN_ROWS = 2_000  # rows one query of a scan reads (``iter_nodes``): one slice of a lex GET
_MAX_PROBLEMS = 6  # lines of damage named in an error: enough to locate it, short enough to read
_MIN_ROWID = -(2**63)
_MAX_ROWID = 2**63 - 1
_SALVAGE_HINT = (
    "start the relay with --salvage to keep every row that can still be read "
    "(the damaged file is moved aside, not deleted)"
)


def _size(path: Path) -> int:
    """The bytes of the file and its WAL (0 when there is none)."""
    total = 0
    for p in (path, Path(f"{path}-wal")):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


class _BadRow(Exception):
    """A row whose columns are not a (soul, key, JSON value, finite state)."""


def _sql_text(s: str) -> str | bytes:
    """The SQLite value for a soul or key: TEXT unless it holds a lone surrogate (see above)."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogatepass")
    return s


def _py_text(v: object, what: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise _BadRow(f"{what} is not text: {exc}") from None
    raise _BadRow(f"{what} is a {type(v).__name__}, not text")


def _decode(row: tuple[Any, ...]) -> tuple[str, str, Any, int | float]:
    """One stored row as (soul, key, value, state); raises ``_BadRow`` for a damaged one."""
    _rowid, soul, key, value, state = row
    soul = _py_text(soul, "soul")
    key = _py_text(key, "key")
    if not isinstance(value, str):
        raise _BadRow(f"value is a {type(value).__name__}, not JSON text")
    try:
        val = json.loads(value)
    except ValueError as exc:
        raise _BadRow(f"value is not JSON ({exc})") from None
    if isinstance(state, bool) or not isinstance(state, int | float) or not math.isfinite(state):
        raise _BadRow(f"state {state!r} is not a finite number")
    st = float(state)
    return soul, key, val, int(st) if st.is_integer() else st


def _where(row: tuple[Any, ...]) -> str:
    """A row named for a human: rowid, and soul/key when they can be shown."""
    return f"row {row[0]} (soul {row[1]!r:.80}, key {row[2]!r:.80})"


def _by_page(lines: list[str]) -> list[str]:
    """``quick_check`` lines, one per damaged page (its first complaint and how many more), so
    a few lines name every bad page rather than the cells of the first one."""
    first: dict[str, str] = {}
    count: dict[str, int] = {}
    for i, line in enumerate(lines):
        m = re.search(r"\bpage (\d+)", line)
        page = m.group(1) if m else f"#{i}"
        first.setdefault(page, line)
        count[page] = count.get(page, 0) + 1
    out = [
        line + (f" (and {count[page] - 1} more on this page)" if count[page] > 1 else "")
        for page, line in first.items()
    ]
    if len(out) > _MAX_PROBLEMS:
        out = out[: _MAX_PROBLEMS - 1] + [f"... and {len(out) - _MAX_PROBLEMS + 1} more"]
    return out


def _is_damage(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    return (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "malformed" in text
        or "not a database" in text
        or "Could not decode" in text
    )


def _why(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", None)
    text = f"{exc} ({name})" if name else str(exc)
    if name in ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE"):
        text += ": is the disk full or the file over its size limit?"
    return text


class SQLiteStore:
    """The relay's graph in one SQLite file; see the module text for the failure rules."""

    def __init__(
        self, path: str | Path, *, salvage: bool = False, check: bool | None = None
    ) -> None:
        self.path = Path(path)
        self.salvage_report: str | None = None
        self._closed = False
        # the whole-file check reads every page: done at open for files up to CHECK_BYTES
        # (``check=None``), always (True) or never (False); a bigger file opens at once and
        # a damaged page is named when a read reaches it (``_read_failed``)
        self.checked = salvage or (check if check is not None else _size(self.path) <= CHECK_BYTES)
        # what the reads of the store cost so far (the relay's cache is judged by these):
        # SELECT statements run, and rows they returned
        self.queries = 0
        self.rows_read = 0
        self.db = self._connect(self.path)
        try:
            problems = self._problems(deep=salvage) if self.checked else self._header()
        except BaseException:
            self.db.close()
            raise
        if problems:
            if not salvage:
                self.db.close()
                lines = "\n  ".join(problems)
                raise StoreError(
                    f"store {str(self.path)!r} is damaged:\n  {lines}\n{_SALVAGE_HINT}"
                )
            self.db.close()
            self.salvage_report = self._salvage(problems)
            self.db = self._connect(self.path)
        elif salvage:
            self.salvage_report = f"salvage: {self.path}: no damage found, every row kept"
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(
                f"store {str(path)!r}: cannot open the SQLite file: {_why(exc)}"
            ) from exc

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            return sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(
                f"store {str(path)!r}: cannot open the SQLite file: {_why(exc)}"
            ) from exc

    # ------------------------------------------------------------------ damage
    def _problems(self, *, deep: bool) -> list[str]:
        """What is damaged, as short lines (empty: nothing found). ``quick_check`` reads every
        page once, about what ``load`` costs anyway; ``deep`` also decodes every row."""
        try:
            if not self.path.exists() or self.path.stat().st_size == 0:
                return []
            lines: list[str] = []
            for (text,) in self.db.execute("PRAGMA quick_check(200)"):
                lines += [t for t in str(text).splitlines() if t and not t.startswith("***")]
            lines = [] if lines == ["ok"] else _by_page(lines)
            if not lines and deep and self._has_graph(self.db):
                for row in self.db.execute(_ROWS):
                    try:
                        _decode(row)
                    except _BadRow as exc:
                        lines.append(f"{_where(row)}: {exc}")
                        if len(lines) >= _MAX_PROBLEMS:
                            break
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                raise StoreError(
                    f"store {str(self.path)!r}: cannot read the SQLite file: {_why(exc)}"
                ) from exc
            lines = [f"reading the file failed: {exc}"]
        return [ln[:200] for ln in lines[:_MAX_PROBLEMS]]

    def _header(self) -> list[str]:
        """The check of a file too big to read whole at open: SQLite can read its header
        and schema (a file that is not a database is named here, as by the full check)."""
        try:
            self.db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            if not _is_damage(exc):
                raise StoreError(
                    f"store {str(self.path)!r}: cannot read the SQLite file: {_why(exc)}"
                ) from exc
            return [f"reading the file failed: {exc}"[:200]]
        return []

    @staticmethod
    def _has_graph(db: sqlite3.Connection) -> bool:
        return bool(
            db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='graph'").fetchone()
        )

    def _salvage(self, problems: list[str]) -> str:
        """Move the damaged file aside and copy its readable rows into a fresh one."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
        try:
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    os.replace(side, str(aside) + suffix)
            os.replace(self.path, aside)
        except OSError as exc:
            raise StoreError(
                f"store {str(self.path)!r}: cannot move the damaged file: {exc}"
            ) from exc
        kept = 0
        bad_rows = 0
        skipped: list[tuple[int, int]] = []
        total: int | None = None
        fresh = self._connect(self.path)
        try:
            src = self._open_damaged(aside)
            try:
                total = self._count(src)
                fresh.execute("PRAGMA journal_mode=WAL")
                fresh.execute(_SCHEMA)
                fresh.execute("BEGIN")
                batch: list[tuple[Any, ...]] = []
                for row in self._readable(src, skipped):
                    try:
                        soul, key, _val, state = _decode(row)
                    except _BadRow:
                        bad_rows += 1
                        continue
                    batch.append((_sql_text(soul), _sql_text(key), row[3], state))
                    kept += 1
                    if len(batch) >= 1000:
                        fresh.executemany(_UPSERT, batch)
                        batch.clear()
                fresh.executemany(_UPSERT, batch)
                fresh.execute("COMMIT")
            finally:
                src.close()
        except sqlite3.Error as exc:
            raise StoreError(
                f"store {str(self.path)!r}: salvage could not write the fresh file: {_why(exc)} "
                f"(the damaged file is at {str(aside)!r})"
            ) from exc
        finally:
            fresh.close()
        if skipped == [(_MIN_ROWID, _MAX_ROWID)]:
            lost = "lost all of them (not even the table could be read)"
            skipped = []
        elif not skipped:
            lost = f"lost {bad_rows}"  # every row was reached: only the undecodable ones are lost
        elif total is not None and total >= kept:
            lost = f"lost {total - kept}"
        else:
            lost = f"lost at least {bad_rows} plus the rows of unreadable pages"
        ranges = ", ".join(f"{a}..{b}" for a, b in skipped[:5]) + (", ..." * (len(skipped) > 5))
        report = (
            f"salvage: {self.path}: kept {kept} rows, {lost}"
            + (f" (unreadable rowids {ranges})" if skipped else "")
            + f"; damage: {problems[0]}; the damaged file is at {aside}"
        )
        log.warning("%s", report)
        return report

    @staticmethod
    def _count(src: sqlite3.Connection) -> int | None:
        """How many rows the damaged file held, if its index or its table can still count
        them (the index usually can when only table pages are bad): the "lost" figure."""
        for sql in ("SELECT count(*) FROM graph", "SELECT count(*) FROM graph NOT INDEXED"):
            try:
                return int(src.execute(sql).fetchone()[0])
            except sqlite3.Error:
                continue
        return None

    @staticmethod
    def _open_damaged(path: Path) -> sqlite3.Connection:
        """Read-only when SQLite allows, so closing it does not checkpoint into the damaged
        file (it stays as it was found, for whoever looks at it later)."""
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return db
        except sqlite3.Error:
            with_write = sqlite3.connect(str(path))
            return with_write

    @staticmethod
    def _readable(
        src: sqlite3.Connection, skipped: list[tuple[int, int]]
    ) -> Iterator[tuple[Any, ...]]:
        """Every row of ``graph`` that SQLite can still read, in rowid order. Where a read
        fails, seek past the damage: the first rowid ``x`` from which a read succeeds is found
        by doubling steps, then bisection (a damaged page costs about 2 log2(its span) seeks);
        the rowid ranges given up are appended to ``skipped``."""
        try:
            if not SQLiteStore._has_graph(src):
                return
        except sqlite3.Error:
            skipped.append((_MIN_ROWID, _MAX_ROWID))
            return
        probe_sql = _ROWS + " WHERE rowid >= ? ORDER BY rowid LIMIT 1"

        def readable_from(x: int) -> bool:
            try:
                src.execute(probe_sql, (x,)).fetchall()
                return True
            except sqlite3.Error:
                return False

        pos = _MIN_ROWID
        while True:
            try:
                for row in src.execute(_ROWS + " WHERE rowid >= ? ORDER BY rowid", (pos,)):
                    if not isinstance(row[0], int) or row[0] < pos:
                        raise sqlite3.DatabaseError("rowids out of order")
                    pos = row[0] + 1
                    yield row
                    if pos > _MAX_ROWID:
                        return
                return
            except sqlite3.Error:
                pass
            # the read at or after ``pos`` failed: find the first rowid we can read from
            fail, step = pos, 1
            ok: int | None = None
            while True:
                x = min(pos + step, _MAX_ROWID)
                if readable_from(x):
                    ok = x
                    break
                fail = x
                if x == _MAX_ROWID:
                    break
                step *= 2
            if ok is None:
                skipped.append((pos, _MAX_ROWID))
                return
            while ok - fail > 1:
                mid = (fail + ok) // 2
                if readable_from(mid):
                    ok = mid
                else:
                    fail = mid
            skipped.append((pos, ok - 1))
            pos = ok

    # ------------------------------------------------------------------ writes
    @property
    def in_transaction(self) -> bool:
        """Whether writes wait for ``commit``: SQLite's own answer, never a flag of ours."""
        return not self._closed and self.db.in_transaction

    def write(self, diff: Mapping[str, Mapping[str, Any]]) -> None:
        """Stage the accepted keys of one put (a graph with ``_['>']`` states) in the open
        transaction, opening one if none is.

        Raises:
            StoreError: a key could not be encoded or SQLite refused it; the whole open
                transaction (every write since the last commit) was rolled back.
        """
        try:
            rows = []
            for soul, node in diff.items():
                states = node.get("_", {}).get(">", {})
                for key, value in node.items():
                    if key == "_":
                        continue
                    if key not in states:
                        raise ValueError(f"no HAM state for {soul!r:.80} {key!r:.80}")
                    rows.append((_sql_text(soul), _sql_text(key), dumps(value), states[key]))
            if not rows:
                return
            if not self.db.in_transaction:
                self.db.execute("BEGIN")
            self.db.executemany(_UPSERT, rows)
        except Exception as exc:
            self._abandon()
            raise StoreError(
                f"cannot write to {str(self.path)!r}: {_why(exc)}; the transaction was rolled back"
            ) from exc

    def commit(self) -> None:
        """Make the staged writes durable (no-op when none are staged).

        Raises:
            StoreError: SQLite could not commit (a full disk, an I/O error, a constraint); the
                transaction was rolled back and the store is ready for the next write.
        """
        if not self.in_transaction:
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon()
            raise StoreError(
                f"cannot commit to {str(self.path)!r}: {_why(exc)}; the transaction was rolled back"
            ) from exc

    def rollback(self) -> None:
        """Abandon the staged writes (no-op when none are staged)."""
        self._abandon()

    def _abandon(self) -> None:
        """Roll back whatever transaction SQLite still has open; if even that fails, reopen
        the connection (closing it rolls back), so the next write starts clean."""
        if self._closed or not self.db.in_transaction:
            return
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.warning("store %s: ROLLBACK failed (%s); reopening the connection", self.path, exc)
        if self.db.in_transaction:
            self.db.close()
            self.db = self._connect(self.path)
            self.db.execute("PRAGMA synchronous=NORMAL")

    # ------------------------------------------------------------------ reads
    @property
    def closed(self) -> bool:
        """Whether ``close`` was called (a closed store reads as empty)."""
        return self._closed

    def read_node(self, soul: str) -> dict[str, Any] | None:
        """One stored node, read by the primary key (``soul``, ``key``): what the root's cache
        loads on a miss. None when no row has ``soul`` (or the store is closed). Reads happen
        on the writer's connection, so a write not yet committed is read back as written.

        Raises:
            StoreError: a row of the node could not be read or decoded.
        """
        if self._closed:
            return None
        self.queries += 1
        try:
            rows = self.db.execute(_NODE, (_sql_text(soul),)).fetchall()
        except sqlite3.Error as exc:
            raise self._read_failed(exc, f"soul {soul!r:.80}") from exc
        self.rows_read += len(rows)
        if not rows:
            return None
        node: dict[str, Any] = {"_": {"#": soul, ">": {}}}
        states = node["_"][">"]
        for row in rows:
            _s, key, value, state = self._decoded(row)
            node[key] = value
            states[key] = state
        return node

    def iter_nodes(
        self,
        lo: str | None = None,
        hi: str | None = None,
        *,
        reverse: bool = False,
        rows: int = SCAN_ROWS,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The stored nodes whose soul is in ``[lo, hi)`` (None: unbounded), in the index's
        order (code point order; ``reverse``: descending), read ``rows`` rows per query, so
        a big range costs one short query per slice and no statement stays open between
        slices (writes may run in between; each slice sees the rows as they are then).

        Souls stored as BLOBs (a lone surrogate, see above) are outside any TEXT range: when
        ``hi`` is given they are read after the range (before it when ``reverse``), all of
        them; the caller filters (there are none in a store written by browsers).

        Raises:
            StoreError: a row could not be read or decoded.
        """
        blobs = hi is not None
        if blobs and reverse:
            yield from self._scan(b"", None, reverse, rows)
        yield from self._scan(lo, hi, reverse, rows)
        if blobs and not reverse:
            yield from self._scan(b"", None, reverse, rows)

    def _scan(
        self, lo: str | bytes | None, hi: str | None, reverse: bool, rows: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        where: list[str] = []
        bounds: list[Any] = []
        if lo is not None:
            where.append("soul >= ?")
            bounds.append(_sql_text(lo) if isinstance(lo, str) else lo)
        if hi is not None:
            where.append("soul < ?")
            bounds.append(_sql_text(hi))
        order = " ORDER BY soul DESC, key DESC" if reverse else " ORDER BY soul, key"
        after: tuple[Any, Any] | None = None
        soul: str | None = None
        node: dict[str, Any] = {}
        while not self._closed:
            cond = where + (
                ["(soul, key) < (?, ?)" if reverse else "(soul, key) > (?, ?)"]
                * (after is not None)
            )
            sql = _ROWS + (" WHERE " + " AND ".join(cond) if cond else "") + order + " LIMIT ?"
            params = [*bounds, *(after or ()), rows]
            self.queries += 1
            try:
                batch = self.db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._read_failed(exc, "a range of souls") from exc
            self.rows_read += len(batch)
            for row in batch:
                s, key, value, state = self._decoded(row)
                if s != soul:
                    if soul is not None:
                        yield soul, node
                    soul, node = s, {"_": {"#": s, ">": {}}}
                node[key] = value
                node["_"][">"][key] = state
            if len(batch) < rows:
                break
            after = (batch[-1][1], batch[-1][2])
        if soul is not None:
            yield soul, node

    def _decoded(self, row: tuple[Any, ...]) -> tuple[str, str, Any, int | float]:
        try:
            return _decode(row)
        except _BadRow as exc:
            raise StoreError(
                f"store {str(self.path)!r} is damaged: {_where(row)}: {exc}\n" + _SALVAGE_HINT
            ) from None

    def _read_failed(self, exc: sqlite3.Error, what: str) -> StoreError:
        return StoreError(
            f"store {str(self.path)!r}: reading {what} failed: {_why(exc)}"
            + (f"\n{_SALVAGE_HINT}" if _is_damage(exc) else "")
        )

    def load(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every stored node, as graph nodes with their states.

        Raises:
            StoreError: a row or page could not be read; the text names it (the relay can
                start with ``--salvage`` instead).
        """
        nodes: dict[str, dict[str, Any]] = {}
        last: int | None = None
        self.queries += 1
        try:
            for row in self.db.execute(_ROWS):
                self.rows_read += 1
                try:
                    soul, key, value, state = _decode(row)
                except _BadRow as exc:
                    raise StoreError(
                        f"store {str(self.path)!r} is damaged: {_where(row)}: {exc}\n"
                        + _SALVAGE_HINT
                    ) from None
                last = row[0]
                node = nodes.setdefault(soul, {"_": {"#": soul, ">": {}}})
                node[key] = value
                node["_"][">"][key] = state
        except sqlite3.Error as exc:
            after = f" after row {last}" if last is not None else ""
            raise StoreError(
                f"store {str(self.path)!r} is damaged: reading failed{after}: {exc}\n"
                + _SALVAGE_HINT
            ) from exc
        yield from nodes.items()

    def close(self) -> None:
        """Commit what is staged and close the file (a second call does nothing)."""
        if self._closed:
            return
        try:
            self.commit()
        finally:
            self._closed = True
            self.db.close()
