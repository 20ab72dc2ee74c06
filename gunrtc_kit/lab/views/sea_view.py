"""SeaView: the SEA inspector in a notebook. One user's signed fields, and the last login.

What it shows comes from ``gunrtc_kit.diagnose.sea``: ``inspect_user`` over the peer's graph
(every field of the user's space with its verdict, ``valid`` / ``valid-cert`` / ``invalid`` /
``unsigned``, and the key that signed it) and ``auth_report`` over the peer's
``User.last_auth`` (each step of the last ``auth``, ok or failed, and why in plain words).

Why it reads the graph and not only the trace, unlike ``PeerView``: a verdict needs the stored
signed text and its HAM state, which trace events carry only in part (long values are cut to
a preview). So the view asks its ``source`` for the nodes and the steps; for a Lab peer the
source reads them on the runtime thread (``lab.sea``), so it never sees a half-written graph.
When it asks: when the hub's tick shows the peer's state moved (a put merged, a message heard
or said: the trace events other views use), at most every ``every`` seconds; on every
``refresh()``; and when a front end sends ``{"type": "refresh"}`` (its button) or ``hello``.

Traits (py → js): ``report`` (``UserReport.as_dict()`` plus ``v``, a version that grows with
each recompute, and ``peer``, the peer's name), ``auth`` (``{"rows", "summary", "peer"}``),
``title``, ``height``, ``error``. The front end is ``static/sea.js``; its rows are
``tr.gk-sea-field`` with ``data-soul``, ``data-key`` and ``data-verdict``.

Live or frozen (``live``, a checkbox in the header; ``frozen_at``, the time of the snapshot):
a frozen view (what ``lab.sea`` makes unless ``live=True``) reads once and keeps that, so an
inspector under a cell says what was true when the cell ran (a wrong password's failed login
stays failed on the page after a later cell logs in right). Nothing re-reads a frozen view:
not the hub's ticks, not ``lab.refresh()``, not its front end; ``refresh()`` on it is a
``GunError`` saying how to get a new snapshot. Ticking "live" reads now and follows the peer.
``closed`` turns true when the Lab closes (see ``peer_view.Published``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import traitlets

from gunrtc_kit.diagnose.sea import (
    AuthStepLike,
    UserReport,
    auth_report,
    auth_summary,
    inspect_user,
)
from gunrtc_kit.errors import GunError
from gunrtc_kit.lab.views.base import View, module
from gunrtc_kit.lab.views.hub import Changes, ViewHub
from gunrtc_kit.lab.views.peer_view import Published, clock_text

__all__ = ["SeaSource", "SeaView"]

log = logging.getLogger(__name__)

SeaSource = Callable[[], tuple[Mapping[str, Mapping[str, Any]], Sequence[AuthStepLike]]]
"""What the view reads: ``() -> (nodes, auth steps)``, the graph holding the user's space and
the peer's ``User.last_auth`` (an empty list when there was no login)."""


class SeaView(Published, View):
    """The SEA inspector of one user (``pub``) as one peer holds it, and that peer's last auth.
    ``live=False`` freezes it at its first read (see the module docstring)."""

    _esm = module("sea.js")
    report = traitlets.Dict().tag(sync=True)
    auth = traitlets.Dict().tag(sync=True)
    title = traitlets.Unicode("SEA").tag(sync=True)
    live = traitlets.Bool(True).tag(sync=True)
    frozen_at = traitlets.Unicode("").tag(sync=True)
    closed = traitlets.Bool(False).tag(sync=True)

    kind = "sea"
    every = 0.5

    def __init__(
        self,
        hub: ViewHub,
        pub: str,
        source: SeaSource,
        *,
        pid: str = "",
        name: str = "",
        height: int = 460,
        live: bool = True,
    ) -> None:
        self.pub = pub.removeprefix("~")
        self.source = source
        self.pid = pid
        self.name = name
        self.last: UserReport | None = None
        self.steps: list[dict[str, Any]] = []
        self.computed = 0  # how many times the report was computed
        self._version = -1
        self._last = 0.0
        super().__init__(hub, height=height, live=live)
        self.title = f"SEA inspector · {name}'s peer" if name else "SEA inspector"
        with hub.lock:
            self.recompute()
            if not live:
                self.frozen_at = clock_text()
        self.observe(self._on_live_toggle, names="live")

    def _on_live_toggle(self, change: dict[str, Any]) -> None:
        """The live toggle: going live reads now; freezing keeps what is shown."""
        with self.hub.lock:
            if change["new"]:
                self.frozen_at = ""
                self.recompute()
            else:
                self.frozen_at = clock_text()

    # ------------------------------------------------------------------ the model
    def recompute(self) -> UserReport:
        """Read the source again and send the new report and auth rows (the truth is here:
        the front end only draws them). A failing source is shown in ``error``, not raised."""
        if self.pid:
            self._version = self.hub.peers.version(self.pid)
        self._last = self._now()
        try:
            nodes, steps = self.source()
            report = inspect_user(nodes, self.pub)
            rows = auth_report(steps)
            summary = auth_summary(steps)
        except Exception as exc:
            log.warning("SEA view of %s failed to read: %r", self.pub[:12], exc)
            self.error = f"SeaView: {exc}"
            if self.last is None:
                raise
            return self.last
        self.computed += 1
        self.last, self.steps = report, rows
        self.report = {**report.as_dict(), "v": self.computed, "peer": self.name}
        self.auth = {"rows": rows, "summary": summary, "peer": self.name}
        if self.error.startswith("SeaView:"):
            self.error = ""
        return report

    def reset(self) -> None:
        """A front end asked for everything (``hello``): read again and send it (live only:
        a frozen view's front ends get its traits as they are)."""
        if self.live and not self.closed:
            self.recompute()

    def refresh(self) -> None:
        """Read again now (a live view). A frozen view raises ``GunError``: it shows what was
        true when it was made, and reading again would change an output of an earlier cell;
        make a new snapshot (``lab.sea_sync(...)`` or ``await lab.sea(...)`` again) or set
        ``live = True``."""
        if not self.live:
            raise GunError(
                f"this SEA inspector is frozen at {self.frozen_at} (what was true when its cell "
                "ran): call lab.sea_sync(peer, who) again for a new snapshot, or set .live = True "
                "(or tick 'live' in the widget) to follow the peer"
            )
        super().refresh()

    def tick(self, ch: Changes) -> None:
        """Read again when the peer's traced state moved (throttled), or on a flush; never
        while frozen or closed."""
        if not self.live or self.closed:
            return
        if ch.flush:
            self.recompute()
            return
        if not self.pid or self._now() - self._last < self.every:
            return
        if self.hub.peers.version(self.pid) != self._version:
            self.recompute()

    def handle(self, content: dict[str, Any]) -> None:
        """``{"type": "refresh"}`` (the front end's button): read again now."""
        if content.get("type") == "refresh" and self.live and not self.closed:
            self.recompute()

    # ------------------------------------------------------------------ text
    def to_text(self) -> str:
        """The inspector as plain text: the report, then the last auth step by step (what a
        notebook converted without widgets, or printed, shows)."""
        if self.last is None:
            return "SEA inspector: nothing read yet"
        who = f" on {self.name}'s peer" if self.name else ""
        when = f" (frozen at {self.frozen_at})" if self.frozen_at else ""
        lines = [
            f"SEA inspector{who}{when}",
            self.last.to_text(),
            f"last auth: {self.auth.get('summary')}",
        ]
        for r in self.steps:
            mark = "ok" if r["ok"] else "FAILED"
            took = f" ({r['ms']:.0f} ms)" if r["ms"] else ""
            lines.append(f"  {r['n']}. {r['what']}{took}: {mark}, {r['why']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()

    def closed_text(self) -> str:
        """The closed note: the Lab is closed, then the inspector as it was last shown."""
        return f"(its Lab is closed; this is what it showed last)\n{self.to_text()}"

    def closed_html(self) -> str:
        """The closed note as a ``<pre>`` (the report's lines kept)."""
        return f"<pre class='gk-closed'>{html.escape(self.closed_text())}</pre>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, with the whole text as its ``text/plain`` (ipywidgets cuts it to 110
        characters, too few for a report nbconvert should show)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/plain"] = self.to_text()
        return bundle
