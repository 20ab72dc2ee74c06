"""The Lab API as a new user meets it: reads that end on time, list paths, closed Labs that
say so, the cell re-run rule, rich reprs, docstrings and tracebacks without runtime plumbing.

Memory peers only (no network), except the WebRTC tests at the end, which run where nothing
but loopback exists (``tests.netns``)."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gunrtc_kit.lab.lab as lab_module
from gunrtc_kit import Gun
from gunrtc_kit.chain import Chain
from gunrtc_kit.errors import GunError
from gunrtc_kit.errors import TimeoutError as GunTimeoutError
from gunrtc_kit.lab import Lab, LabPeer, MemoryLink, Runtime, SignalingSteps, get_runtime
from gunrtc_kit.transport.memory import connect_memory
from tests.helpers import until
from tests.netns import require_loopback_only


def wait_for(pred: Any, timeout: float = 10.0) -> None:
    """Blocking, bounded wait for ``pred()`` (the Lab's blocking API is used from this thread)."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def pair(lab: Lab) -> tuple[LabPeer, LabPeer, MemoryLink]:
    a, b = lab.memory_peer("alice"), lab.memory_peer("bob")
    link = lab.link_memory(a, b)
    wait_for(lambda: len(a.links()) == 1 and len(b.links()) == 1)
    return a, b, link


def frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return list(traceback.extract_tb(exc.__traceback__))


def assert_no_plumbing(exc: BaseException) -> None:
    runtime_py = os.path.abspath(lab_module.__file__).replace("lab.py", "runtime.py")
    futures_dir = os.path.dirname(os.path.abspath(__import__("concurrent.futures").__file__))
    asyncio_dir = os.path.dirname(os.path.abspath(asyncio.__file__))
    for f in frames(exc):
        name = os.path.abspath(f.filename)
        assert name != runtime_py, f"runtime.py frame {f.name} in {frames(exc)}"
        assert not name.startswith(futures_dir + os.sep), f"concurrent.futures frame {f.name}"
        assert not name.startswith(asyncio_dir + os.sep), f"asyncio frame {f.name}"


# ---------------------------------------------------------------- 1. one deadline per read
def test_missing_three_step_path_is_none_within_one_timeout(lab: Lab) -> None:
    a, b, _ = pair(lab)  # a plain peer never answers "not found": each step waits its time
    t0 = time.monotonic()
    assert b.get_sync("x.y.z", timeout=1.0) is None
    took = time.monotonic() - t0
    # once per step would be 3 s (and a TimeoutError); the upper bound leaves a loaded CI room
    assert 0.9 <= took <= 2.5, took

    async def read() -> Any:
        return await b.get(["no", "such", "key"], timeout=1.0)

    t0 = time.monotonic()
    assert asyncio.run(read()) is None
    assert time.monotonic() - t0 <= 2.5  # not 3 s: one deadline for the three steps


def test_present_path_still_reads_across_peers(lab: Lab) -> None:
    a, b, _ = pair(lab)
    a.put("chat.m1", {"text": "hi", "n": 1})
    wait_for(lambda: "chat" in b.graph())
    assert b.get_sync("chat.m1.text", timeout=3) == "hi"
    assert b.get_sync("chat.m1", timeout=3) == {"text": "hi", "n": 1}


async def test_chain_once_shares_one_deadline_across_steps() -> None:
    a, b = await Gun().start(), await Gun().start()
    try:
        connect_memory(a.mesh, b.mesh)
        await until(lambda: len(a.mesh.peers) == 1 and len(b.mesh.peers) == 1, timeout=5)
        t0 = time.monotonic()
        assert await b.get("p").get("q").get("r").get("s").once(timeout=0.5) is None
        assert time.monotonic() - t0 <= 1.5  # four steps of their own would take 2 s
        t0 = time.monotonic()
        assert await b.get("log").map().once(timeout=0.5) is None
        assert time.monotonic() - t0 <= 1.5
        with pytest.raises(GunError, match="timeout"):
            await b.get("p").once(timeout=-1)
    finally:
        await a.close()
        await b.close()


def test_blocking_read_waits_longer_than_its_own_deadline(lab: Lab, monkeypatch: Any) -> None:
    a, b, _ = pair(lab)
    seen: dict[str, Any] = {}
    real_run = lab.rt.run_sync

    def spy(coro: Any, timeout: float | None = 60.0, *, what: str | None = None) -> Any:
        seen.update(timeout=timeout, what=what)
        return real_run(coro, timeout, what=what)

    monkeypatch.setattr(lab.rt, "run_sync", spy)
    assert b.get_sync(["x", "y"], timeout=2.0) is None
    assert seen["what"] == "bob.get_sync(['x', 'y'])"
    assert seen["timeout"] >= 2.0 + 2.0  # the read ends first, with None


def test_a_blocking_wait_that_runs_out_names_the_call() -> None:
    rt = get_runtime()
    with pytest.raises(
        GunTimeoutError, match=r"get_sync\(\['x', 'y'\]\) did not finish within 0.2 s"
    ):
        rt.run_sync(asyncio.sleep(5), 0.2, what="get_sync(['x', 'y'])")

    async def stuck_read() -> None:
        await asyncio.sleep(5)

    with pytest.raises(GunTimeoutError, match="stuck_read did not finish within 0.1 s"):
        rt.run_sync(stuck_read(), 0.1)


# ---------------------------------------------------------------- 2. paths
def test_list_paths_keep_dots_in_keys(lab: Lab) -> None:
    a, b, _ = pair(lab)
    a.put(["users", "bob@example.com"], {"name": "Bob", "v1.2": "yes"})
    nodes = a.graph()
    assert "bob@example.com" in nodes["users"]  # one key, not souls "bob@example" and "com"
    assert nodes["users"]["bob@example.com"] == {"#": "users/bob@example.com"}
    assert b.get_sync(("users", "bob@example.com", "name"), timeout=3) == "Bob"
    assert b.get_sync(["users", "bob@example.com", "v1.2"], timeout=3) == "yes"
    assert b.get_sync(["users", "bob@example.com"], timeout=3) == {"name": "Bob", "v1.2": "yes"}
    # a string is split on every dot: the same address becomes nested souls
    a.put("users.bob@example.com", {"name": "split"})
    assert a.get_sync(["users", "bob@example", "com", "name"], timeout=1) == "split"


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("", "path='' is empty"),
        ([], "path=[] is empty"),
        ((), "path=() is empty"),
        ("users..bob", "key 1 is empty"),
        ("users.", "key 1 is empty"),
        (".users", "key 0 is empty"),
        (["users", ""], "key 1 is empty"),
        (["users", 3], "key 1 is 3"),
        (42, "expected a string 'soul.key' or a list of keys"),
    ],
)
def test_empty_paths_and_keys_are_errors_that_name_them(lab: Lab, path: Any, named: str) -> None:
    a = lab.memory_peer("alice")
    for action in (lambda: a.put(path, {"x": 1}), lambda: a.get_sync(path, timeout=0.1)):
        with pytest.raises(GunError) as err:
            action()
        assert named in str(err.value)


# ---------------------------------------------------------------- 3. closed Labs, cut
def test_every_action_after_close_raises(lab: Lab) -> None:
    a, b, link = pair(lab)
    steps = lab.signaling(a, b)
    lab.close()
    lab.close()  # twice is harmless
    assert lab.closed and a.closed
    actions = {
        "put": lambda: a.put("x.y", 1),
        "put_acked_sync": lambda: a.put_acked_sync("x.y", 1),
        "get_sync": lambda: a.get_sync("x.y"),
        "get": lambda: asyncio.run(a.get("x.y")),
        "put_acked": lambda: asyncio.run(a.put_acked("x.y", 1)),
        "say": lambda: a.say({"dam": "?"}),
        "graph": a.graph,
        "snapshot": a.snapshot,
        "links": a.links,
        "peer": lambda: lab.peer("carol"),
        "memory_peer": lambda: lab.memory_peer("carol"),
        "link_memory": lambda: lab.link_memory(a, b),
        "attach": lambda: lab.attach("js", "ws://127.0.0.1:1/gun"),
        "link_sync": lambda: lab.link_sync(a, b),
        "wait_linked_sync": lambda: lab.wait_linked_sync(a, b),
        "cut": lambda: lab.cut(a, b),
        "signaling": lambda: lab.signaling(a, b),
        "make_offer": steps.make_offer,
        "start_relay_sync": lab.start_relay_sync,
        "stop_relay_sync": lab.stop_relay_sync,
        "url": lambda: lab.url,
        "MemoryLink.set": lambda: link.set(latency=0.1),
    }
    for name, action in actions.items():
        try:
            action()
        except GunError as exc:
            assert "this Lab is closed" in str(exc) or "is cut" in str(exc), (name, exc)
        else:
            raise AssertionError(f"{name} after close() did not raise")
    assert "closed" in repr(lab) and "closed" in repr(a) and "closed" in repr(steps)


def test_cut_needs_two_peers_with_a_webrtc_link(lab: Lab) -> None:
    a, b, link = pair(lab)
    with pytest.raises(GunError, match="no link to itself"):
        lab.cut(a, a)
    with pytest.raises(GunError, match=r"cut\(alice, bob\): nothing to cut.*MemoryLink.cut"):
        lab.cut(a, b)
    other = Lab(relay=False)
    try:
        stranger = other.memory_peer("stranger")
        with pytest.raises(GunError, match="belongs to another Lab"):
            lab.cut(a, stranger)
        with pytest.raises(GunError, match="no link to itself"):
            lab.link_memory(a, a)
    finally:
        other.close()
    link.cut()
    wait_for(lambda: a.links() == [] and b.links() == [])
    with pytest.raises(GunError, match="cut already"):
        link.cut()


# ---------------------------------------------------------------- 4. re-running a cell
class FakeShell:
    """What ``_cell_identity`` reads of an IPython shell: the execution count, the kernel's
    parent header and the compiler's map of cell code names."""

    def __init__(self) -> None:
        self.execution_count = 1
        self.parent_header: dict[str, Any] = {}
        self.compile = type("Compiler", (), {"_filename_map": {}})()

    def run_cell(self, source: str, count: int, cell_id: str | None = None, name: str = "") -> Any:
        """Run ``source`` as IPython would: a code name per cell, the count of this run."""
        self.execution_count = count
        self.parent_header = {"metadata": {"cellId": cell_id}} if cell_id else {}
        ns: dict[str, Any] = {"Lab": Lab}
        exec(compile(source, name or "<string>", "exec"), ns)  # noqa: S102 - the fake cell
        return ns["made"]


@pytest.fixture
def shell(monkeypatch: Any) -> Iterator[FakeShell]:
    fake = FakeShell()
    monkeypatch.setattr(lab_module, "_ipython_shell", lambda: fake)
    made: list[Lab] = []
    real_init = Lab.__init__

    def tracking_init(self: Lab, **kw: Any) -> None:
        made.append(self)
        real_init(self, **kw)

    monkeypatch.setattr(Lab, "__init__", tracking_init)
    yield fake
    for lab in made:
        lab.close()


CELL = "made = [Lab(relay=False), Lab(relay=False)]"


def test_rerunning_a_cell_closes_the_labs_of_its_earlier_run(shell: FakeShell) -> None:
    first = shell.run_cell(CELL, 1, cell_id="cell-a")
    other = shell.run_cell(CELL, 2, cell_id="cell-b")
    assert not any(lab.closed for lab in first + other)  # one run keeps both of its Labs
    again = shell.run_cell(CELL, 3, cell_id="cell-a")
    assert all(lab.closed for lab in first)  # the earlier run of cell-a is closed
    assert not any(lab.closed for lab in other + again)  # other cells are left alone
    assert repr(first[0]) == "<Lab closed>"


def test_without_cell_id_the_cells_code_name_identifies_it(shell: FakeShell) -> None:
    # terminal IPython: the name carries the execution number and a hash of the source
    one = shell.run_cell(CELL, 4, name="<ipython-input-4-0123456789ab>")
    two = shell.run_cell(CELL, 5, name="<ipython-input-5-0123456789ab>")
    assert all(lab.closed for lab in one) and not any(lab.closed for lab in two)
    # ipykernel: <tmp>/ipykernel_<pid>/<hash of the source>.py
    cell = f"/tmp/ipykernel_{os.getpid()}/2719823417.py"
    three = shell.run_cell(CELL, 6, name=cell)
    four = shell.run_cell("made = [Lab(relay=False)]", 7, name="/tmp/ipykernel_1/99.py")
    five = shell.run_cell(CELL, 8, name=cell)
    assert all(lab.closed for lab in three)
    assert not any(lab.closed for lab in two + four + five)  # different cells


def test_cell_identity_rule(shell: FakeShell) -> None:
    shell.execution_count = 9
    shell.parent_header = {"metadata": {"cellId": "abc"}}
    assert lab_module._cell_identity() == ("cellId:abc", 9)
    shell.parent_header = {}
    assert lab_module._cell_identity() is None  # this test file is not a cell
    code = compile("import sys\nframe = sys._getframe()", "<ipython-input-3-feed>", "exec")
    ns: dict[str, Any] = {}
    exec(code, ns)  # noqa: S102
    assert lab_module._cell_identity(shell, ns["frame"]) == ("file:<ipython-input-feed>", 9)


def test_claim_cell_with_explicit_keys(lab: Lab) -> None:
    other = Lab(relay=False)
    third = Lab(relay=False)
    try:
        assert lab._claim_cell("k", 1) == []
        assert other._claim_cell("k", 1) == []  # same run: both kept
        assert set(third._claim_cell("k", 2)) == {lab, other}  # a later run of "k"
        assert lab.closed and other.closed and not third.closed
        assert third._claim_cell("j", 3) == []  # another cell: nothing to close
        assert third._cell == ("j", 3) and not third.closed
    finally:
        other.close()
        third.close()


def test_outside_ipython_nothing_is_closed_for_you(monkeypatch: Any) -> None:
    monkeypatch.setattr(lab_module, "_ipython_shell", lambda: None)
    first, second = Lab(relay=False), Lab(relay=False)
    try:
        assert first._cell is None and not first.closed and not second.closed
        assert Lab.close_all() >= 2
        assert first.closed and second.closed
        assert Lab.close_all() == 0
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------- 5. reprs
def test_lab_and_peer_reprs(lab: Lab) -> None:
    a = lab.memory_peer("<i>eve&co</i>")
    b = lab.memory_peer("bob")
    lab.link_memory(a, b)
    wait_for(lambda: len(a.links()) == 1)
    a.put("chat.hello", {"text": "hi"})
    text = repr(a)
    assert text.startswith("<LabPeer '<i>eve&co</i>'") and f"pid={a.pid}" in text
    assert "links=1 [memory bob]" in text
    page = a._repr_html_()
    assert "&lt;i&gt;eve&amp;co&lt;/i&gt;" in page and "<i>eve" not in page
    assert a.pid in page and "memory: bob" in page and "2 souls" in page
    assert repr(lab) == "<Lab open relay=stopped peers=[<i>eve&co</i>, bob]>"
    page = lab._repr_html_()
    assert "stopped" in page and "(open)" in page and "&lt;i&gt;eve&amp;co&lt;/i&gt;" in page
    assert f"<code>{b.pid}</code></td><td>1</td>" in page  # pid and link count
    lab.close()
    assert "closed" in lab._repr_html_() and "closed" in a._repr_html_()


def test_memory_link_repr_shows_its_faults(lab: Lab) -> None:
    a, b, link = pair(lab)
    link.set(latency=0.05, jitter=0.01, loss=0.25)
    assert repr(link) == (
        "<MemoryLink alice\u2194bob open latency=0.05s jitter=0.01s loss=25% dropped=0>"
    )
    link.set(partitioned=True)
    a.put("x.y", 1)
    wait_for(lambda: link.dropped >= 1)
    assert "partitioned" in repr(link) and f"dropped={link.dropped}" in repr(link)
    page = link._repr_html_()
    assert "latency 0.05 s" in page and "jitter 0.01 s" in page and "loss 25%" in page
    assert "partitioned yes" in page and "dropped" in page


def test_signaling_steps_repr_tracks_progress(lab: Lab) -> None:
    a, b = lab.memory_peer("a<1>"), lab.memory_peer("b")
    steps = lab.signaling(a, b)
    assert repr(steps) == "<SignalingSteps a<1>\u2192b: 1 offer \u2014 next>"
    steps.offer = {"type": "offer", "sdp": ""}
    steps.answer = {"type": "answer", "sdp": ""}
    assert repr(steps) == (
        "<SignalingSteps a<1>\u2192b: 1 offer \u2713 2 answer \u2713 3 apply answer \u2014 next>"
    )
    assert steps.next_step == "apply_answer"
    page = steps._repr_html_()
    assert "a&lt;1&gt;" in page and "apply_answer()</code> \u2190 next" in page
    with pytest.raises(GunError, match="has no WebRTC"):
        steps.apply_answer()


def test_chain_repr_shows_the_local_graph_without_io(lab: Lab, monkeypatch: Any) -> None:
    a = lab.memory_peer("alice")
    a.put(["chat", "<hello>"], {"text": "<b>hi</b>", "x_long": "x" * 500})

    def no_io(*_: Any, **__: Any) -> Any:
        raise AssertionError("a repr must not fetch")

    monkeypatch.setattr(a.gun, "fetch", no_io)
    chain = a.gun.get("chat").get("<hello>")
    text = repr(chain)
    assert text.startswith("<Chain gun.get('chat').get('<hello>') local={")
    assert "<b>hi</b>" in text and len(text) < 200
    page = chain._repr_html_()
    assert "&lt;hello&gt;" in page and "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi" not in page
    assert len(page) < 600
    assert "not in the local graph" in repr(a.gun.get("chat").get("nope"))
    assert "map()" in repr(a.gun.get("chat").map())
    assert isinstance(chain, Chain)


# ---------------------------------------------------------------- 6. docstrings
VIEWS = {"mesh_view", "flow_view", "signaling_view", "peer_view", "show", "refresh"}
VIEWS |= {"save_trace", "load_trace", "views"}  # another change replaces these


def test_every_public_lab_name_has_a_docstring() -> None:
    missing = []
    for cls in (Lab, LabPeer, MemoryLink, SignalingSteps, Runtime):
        if not (cls.__doc__ or "").strip():
            missing.append(cls.__name__)
        for name, member in vars(cls).items():
            if (
                name.startswith("_")
                or name in VIEWS
                or not (
                    callable(member) or isinstance(member, property | classmethod | staticmethod)
                )
            ):
                continue
            fn = member.fget if isinstance(member, property) else member
            fn = getattr(fn, "__func__", fn)
            if not (inspect.getdoc(fn) or "").strip():
                missing.append(f"{cls.__name__}.{name}")
    assert (get_runtime.__doc__ or "").strip()
    assert missing == []


# ---------------------------------------------------------------- 7. tracebacks
def test_errors_from_the_runtime_carry_no_plumbing_frames(lab: Lab) -> None:
    a, b, _ = pair(lab)
    c = lab.memory_peer("carol")
    with pytest.raises(GunError, match="alice has no link to carol") as err:
        a.say({"x": 1}, to=c)
    assert_no_plumbing(err.value)
    names = [f.name for f in frames(err.value)]
    assert names[-2:] == ["say", "go"]  # the Lab method, then the code that raised

    class Oops(ValueError):
        pass

    async def work() -> None:
        await asyncio.sleep(0)
        raise Oops("boom")

    with pytest.raises(Oops, match="^boom$") as err2:
        lab.rt.run_sync(work())
    assert_no_plumbing(err2.value)
    assert [f.name for f in frames(err2.value)][-1] == "work"

    def plain() -> None:
        raise Oops("plain")

    with pytest.raises(Oops, match="plain") as err3:
        lab.rt.call(plain)
    assert_no_plumbing(err3.value)
    assert [f.name for f in frames(err3.value)][-1] == "plain"

    async def cell() -> BaseException:
        try:
            await lab.rt.run(work())
        except Oops as exc:
            return exc
        raise AssertionError("no error")

    exc = asyncio.run(cell())
    assert_no_plumbing(exc)
    assert [f.name for f in frames(exc)] == ["cell", "work"]

    with pytest.raises(GunTimeoutError) as err4:
        lab.rt.run_sync(asyncio.sleep(1), 0.05, what="nap")
    assert_no_plumbing(err4.value)


# ---------------------------------------------------------------- WebRTC (loopback only)
@pytest.mark.webrtc
def test_signaling_steps_and_cut_over_webrtc(tmp_path: Path) -> None:
    require_loopback_only()
    with Lab(relay=False) as lab:
        a, b = lab.peer("a", room=None), lab.peer("b", room=None)
        with pytest.raises(GunError, match=r"cut\(a, b\): nothing to cut, no WebRTC link"):
            lab.cut(a, b)
        steps = lab.signaling(a, b)
        steps.make_offer()
        assert repr(steps).endswith("1 offer \u2713 2 answer \u2014 next>")
        steps.make_answer()
        steps.apply_answer()
        assert "3 apply answer \u2713 5 open \u2014 next" in repr(steps)
        steps.wait_open_sync()
        assert repr(steps).endswith("\u2014 linked>") and steps.next_step is None
        wait_for(lambda: "dc b" in a.links())
        assert "dc: b" in a._repr_html_()
        lab.cut(a, b)
        wait_for(lambda: "dc b" not in a.links() and "dc a" not in b.links())
        with pytest.raises(GunError, match="nothing to cut"):
            lab.cut(a, b)


# ---------------------------------------------------------------- the cell rule in a real kernel
def execute(
    kc: Any, code: str, cell_id: str | None = None, timeout: float = 60, ok: bool = True
) -> str:
    """Run ``code`` as a front end would, with ``cellId`` metadata if given; its stdout."""
    metadata = {"cellId": cell_id} if cell_id else {}
    msg = kc.session.msg(
        "execute_request",
        {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
        metadata=metadata,
    )
    kc.shell_channel.send(msg)
    mid = msg["header"]["msg_id"]
    out: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") != mid:
            continue
        kind = m["header"]["msg_type"]
        if kind == "stream":
            out.append(m["content"]["text"])
        elif kind == "error":
            out.append("ERROR " + "\n".join(m["content"]["traceback"]))
        elif kind == "status" and m["content"]["execution_state"] == "idle":
            break
    while True:  # skip replies to other requests (wait_for_ready re-sends kernel_info)
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == mid:
            break
    text = "".join(out)
    assert (reply["content"]["status"] == "ok") is ok, text
    return text


def test_rerun_rule_in_a_real_kernel(tmp_path: Path) -> None:
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    from tests.lab.test_kernel_cells import ROOT, kernel_spec

    ksm = KernelSpecManager(kernel_dirs=[str(kernel_spec(tmp_path, "7"))])
    km = KernelManager(kernel_name="gunrtc-ipk7", kernel_spec_manager=ksm)
    km.start_kernel(cwd=str(ROOT), env=dict(os.environ))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        execute(kc, "from gunrtc_kit.lab import Lab\nmade = []")
        cell = "made.append(Lab(relay=False)); print('CLOSED', [x.closed for x in made])"
        # no cellId (a front end that sends none): the cell's code name identifies it
        assert "CLOSED [False]" in execute(kc, cell)
        assert "CLOSED [True, False]" in execute(kc, cell)  # re-run: the old Lab is closed
        other = "made.append(Lab(relay=False)) ; print('CLOSED', [x.closed for x in made])"
        assert "CLOSED [True, False, False]" in execute(kc, other)  # another cell: kept
        # with cellId (JupyterLab, Notebook 7, VS Code): an edited cell is still that cell
        execute(kc, "made.clear(); Lab.close_all()")
        two = "made.extend([Lab(relay=False), Lab(relay=False)])\n" + cell.split("; ")[1]
        assert "CLOSED [False, False]" in execute(kc, two, cell_id="c1")  # one run: both kept
        edited = (
            "made.append(Lab(relay=False))  # edited\nprint('CLOSED', [x.closed for x in made])"
        )
        assert "CLOSED [True, True, False]" in execute(kc, edited, cell_id="c1")
        assert "CLOSED [True, True, False, False]" in execute(kc, edited, cell_id="c2")
        assert "N 2" in execute(kc, "print('N', Lab.close_all())")
        # what a cell shows of an error raised on the runtime: no plumbing frames
        fails = (
            "lab = Lab(relay=False)\na = lab.memory_peer('a')\na.say({}, to=lab.memory_peer('b'))"
        )
        shown = execute(kc, fails, ok=False)
        # the frame that raised is the peer's own (LabPeer lives in lab/peers.py)
        assert "a has no link to b" in shown and "peers.py" in shown, shown
        assert "runtime.py" not in shown and "concurrent" not in shown, shown
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
