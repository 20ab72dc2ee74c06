"""The rows of a ``FateModel``: one per copy of a message, kept as columns.

A busy mesh makes thousands of rows a second and the flow view reads them by index, so each
field is a list of its own (``c_t``, ``c_src``...: a row is an index into all of them) rather
than an object per row; row ``seq`` lives at index ``seq - offset`` once older rows were
trimmed. This class holds the columns, adds and trims rows, and reads a row back with names;
``FateModel`` decides what the rows are and how they end. Pure: no clock, no widgets.
"""

from __future__ import annotations

from collections.abc import Iterator

from gunrtc_kit.diagnose.fate_types import MARKS, SENT, Mark, MsgInfo, Row
from gunrtc_kit.diagnose.peers import Directory

__all__ = ["RowColumns"]


class RowColumns:
    """Rows as columns, at most ``row_cap`` kept (plus a tenth before a trim)."""

    def __init__(self, directory: Directory, row_cap: int) -> None:
        self.directory = directory
        self.row_cap = row_cap
        self._row_limit = row_cap + max(row_cap // 10, 1)  # trimmed back to row_cap past this
        # row ``seq`` lives at index ``seq - offset`` of every column
        self.offset = 0
        self.c_t: list[float] = []
        self.c_src: list[int] = []  # lanes (``Directory.lane``), -1 for not known yet
        self.c_dst: list[int] = []
        self.c_kind: list[str] = []
        self.c_label: list[str] = []
        self.c_mid: list[str] = []
        self.c_mark: list[int] = []
        self.c_tr: list[str] = []
        self.c_reply: list[str] = []
        self.c_sig: list[bool] = []
        self.c_tag: list[str] = []  # the wire's tag (memory wires), to tell sibling wires apart
        self.row_why: dict[int, str] = {}  # seq -> why a lost or refused copy ended so
        self.changed: set[int] = set()  # rows whose mark or ends changed (views drain it)
        self.traced: set[str] = set()  # peers that emit events of their own

    # ------------------------------------------------------------------ sizes
    @property
    def total(self) -> int:
        """Rows ever recorded (kept or discarded)."""
        return self.offset + len(self.c_t)

    @property
    def kept(self) -> int:
        """Rows held in memory now (at most ``row_cap`` plus a tenth)."""
        return len(self.c_t)

    def __len__(self) -> int:
        return len(self.c_t)

    # ------------------------------------------------------------------ adding
    def _row(
        self,
        t: float,
        src: int,
        dst: int,
        info: MsgInfo,
        mark: int,
        transport: str,
        tag: str = "",
    ) -> int:
        """Add a row for a copy of ``info``'s message; its seq."""
        seq = self.offset + len(self.c_t)
        self.c_t.append(t)
        self.c_src.append(src)
        self.c_dst.append(dst)
        self.c_kind.append(info.kind)
        self.c_label.append(info.label)
        self.c_mid.append(info.mid)
        self.c_mark.append(mark)
        self.c_tr.append(transport)
        self.c_reply.append(info.reply_to)
        self.c_sig.append(info.sig)
        self.c_tag.append(tag)
        info.seqs.append(seq)
        info.version += 1
        if len(self.c_t) > self._row_limit:
            self._trim(len(self.c_t) - self.row_cap)
        return seq

    def _trim(self, n: int) -> None:
        """Forget the ``n`` oldest rows."""
        for col in (
            self.c_t,
            self.c_src,
            self.c_dst,
            self.c_kind,
            self.c_label,
            self.c_mid,
            self.c_mark,
            self.c_tr,
            self.c_reply,
            self.c_sig,
            self.c_tag,
        ):
            del col[:n]
        self.offset += n
        first = self.offset
        self.row_why = {s: why for s, why in self.row_why.items() if s >= first}
        self.changed = {s for s in self.changed if s >= first}

    # ------------------------------------------------------------------ reading
    def index(self, seq: int) -> int:
        """The column index of row ``seq``, or -1 when it is no longer kept."""
        i = seq - self.offset
        return i if 0 <= i < len(self.c_t) else -1

    def mark_at(self, i: int) -> Mark:
        """The mark of the row at column index ``i``: a copy still ``sent`` to a peer that
        emits no events of its own reads ``untraced`` (its arrival cannot be known)."""
        m = self.c_mark[i]
        if m == SENT:
            dd = self.c_dst[i]
            if dd >= 0 and self.directory.lanes[dd] not in self.traced:
                return Mark.UNTRACED
        return MARKS[m]

    def row(self, seq: int) -> Row:
        """Row ``seq`` with names instead of lanes (``IndexError`` when not kept)."""
        i = self.index(seq)
        if i < 0:
            raise IndexError(f"row {seq} is not kept (kept: {self.offset}..{self.total - 1})")
        lanes = self.directory.lanes
        s, dd = self.c_src[i], self.c_dst[i]
        return Row(
            seq=seq,
            t=self.c_t[i],
            src=self.directory.label(lanes[s]) if s >= 0 else "?",
            dst=self.directory.label(lanes[dd]) if dd >= 0 else "?",
            kind=self.c_kind[i],
            label=self.c_label[i],
            mid=self.c_mid[i],
            mark=self.mark_at(i),
            transport=self.c_tr[i],
            reply_to=self.c_reply[i],
            sig=self.c_sig[i],
            why=self.row_why.get(seq, ""),
            tag=self.c_tag[i],
        )

    def rows(self) -> Iterator[Row]:
        """Every kept row, oldest first."""
        for seq in range(self.offset, self.total):
            yield self.row(seq)
