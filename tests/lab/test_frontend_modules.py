"""The views' ES modules as source: shared code written once, functions kept small, and the
module each view hands to anywidget (static/<view>.js with common.js inlined, see
``gunrtc_kit.lab.views.base.module``) well formed.

Why: common.js is inlined into every view, so a view that declares a name common.js also
declares breaks only in Jupyter (the browser tests load the files themselves, where an import
that is not used does not clash); a copy of a helper drifts from the original; a function of
hundreds of lines is where the views' bugs hid. No bundler and no JavaScript parser is
installed: the tokenizer below is small and rough (strings, templates, comments and regular
expressions blanked out, then braces matched), which is enough for code we write ourselves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gunrtc_kit.lab.views.base import STATIC, module

VIEWS = ("flow.js", "links.js", "mesh.js", "peer.js", "sea.js", "signaling.js", "timeline.js")
MAX_FUNCTION_LINES = 80
_KEYWORDS = {"if", "for", "while", "switch", "catch", "with", "function", "return"}
_REGEX_BEFORE = set("(,=:[!&|?{};+-*%<>~^") | {""}


def _blank(text: str, i: int, j: int, out: list[str]) -> None:
    out.extend("\n" if c == "\n" else " " for c in text[i:j])


def _skip_string(text: str, i: int) -> int:
    """The index just past the string or regex literal opened at ``i``."""
    quote = text[i]
    i += 1
    in_class = False
    while i < len(text) and text[i] != "\n":
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if quote == "/" and c in "[]":
            in_class = c == "["
        elif c == quote and not in_class:
            return i + 1
        i += 1
    return i


def _skip_template(text: str, i: int, out: list[str]) -> int:
    """Blanks the template literal opened at ``i`` but keeps the code of its ``${...}``."""
    _blank(text, i, i + 1, out)
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            _blank(text, i, i + 2, out)
            i += 2
        elif c == "`":
            _blank(text, i, i + 1, out)
            return i + 1
        elif text.startswith("${", i):
            _blank(text, i, i + 2, out)
            i = _code_until_brace(text, i + 2, out)
        else:
            _blank(text, i, i + 1, out)
            i += 1
    return i


def _code_until_brace(text: str, i: int, out: list[str]) -> int:
    """Copies code from ``i`` up to the ``}`` closing a template's ``${`` (blanked)."""
    depth = 0
    while i < len(text):
        if text[i] == "}" and depth == 0:
            _blank(text, i, i + 1, out)
            return i + 1
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i = _step(text, i, out)
    return i


def _step(text: str, i: int, out: list[str]) -> int:
    """One token of code at ``i``: literals and comments blanked, the rest copied."""
    c = text[i]
    if text.startswith("//", i):
        j = text.find("\n", i)
        j = len(text) if j < 0 else j
    elif text.startswith("/*", i):
        j = text.find("*/", i) + 2
    elif c == "`":
        return _skip_template(text, i, out)
    elif c in "'\"" or (c == "/" and _prev_code(out) in _REGEX_BEFORE):
        j = _skip_string(text, i)
    else:
        out.append(c)
        return i + 1
    _blank(text, i, j, out)
    return j


def _prev_code(out: list[str]) -> str:
    for c in reversed(out):
        if not c.isspace():
            return c
    return ""


def code_of(text: str) -> str:
    """``text`` with every string, template text, regex and comment blanked (lines kept)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        i = _step(text, i, out)
    return "".join(out)


# what stands before the "{" of a function body: an arrow, a function's parameters, or a
# method's name and parameters (`heard(a) {` in an object)
_FUNCTION_HEAD = re.compile(
    r"(?:=>\s*|\bfunction\b[\w$\s*]*\((?:[^(){};]|\{[^{};]*\})*\)\s*|(?:^\s*|[{,;]\s*)(?:get\s+)?([\w$]+)\s*\([^()]*\)\s*)\Z",
    re.M,
)


def functions(text: str) -> list[tuple[int, int]]:
    """(first line, number of lines) of every function body in ``text``."""
    code = code_of(text)
    found = []
    stack: list[tuple[int, bool]] = []
    for i, c in enumerate(code):
        if c == "{":
            m = _FUNCTION_HEAD.search(code[max(0, i - 300) : i])
            head = m is not None and m.group(1) not in _KEYWORDS
            stack.append((i, head))
        elif c == "}" and stack:
            start, head = stack.pop()
            if head:
                first = code.count("\n", 0, start) + 1
                found.append((first, code.count("\n", start, i) + 1))
    return found


def common_names() -> set[str]:
    text = (STATIC / "common.js").read_text(encoding="utf-8")
    return set(re.findall(r"^export (?:function|const|let|class) ([\w$]+)", text, re.M))


def test_the_tokenizer_finds_functions_and_ignores_literals() -> None:
    src = "\n".join(
        [
            "const s = '{'; const r = /[}]/g;",
            "function a({ x }) {",
            "  if (x) { return `${x + {}.y}}`; }",
            "  const f = () => {",
            "    return 1;",
            "  };",
            "}",
            "const o = { heard(a) {",
            "  return a; } };",
        ]
    )
    assert sorted(functions(src)) == [(2, 6), (4, 3), (8, 2)]


@pytest.mark.parametrize("name", VIEWS)
def test_each_assembled_module_is_one_parsable_module_without_stray_exports(
    name: str, tmp_path: Path
) -> None:
    text = module(name)
    assert 'from "./common.js"' not in text
    exports = [e.strip() for e in re.findall(r"^[ \t]*export\b.*$", code_of(text), re.M)]
    assert exports == ["export default { render };"], exports
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the syntax check needs it")
    path = tmp_path / f"{name}.mjs"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", VIEWS)
def test_no_view_declares_its_own_copy_of_a_common_helper(name: str) -> None:
    code = code_of((STATIC / name).read_text(encoding="utf-8"))
    for helper in sorted(common_names()):
        decl = rf"(?:\bfunction\s+|\b(?:const|let|var)\s+){re.escape(helper)}\b"
        assert not re.search(decl, code), f"{name} declares {helper}: use common.js's"
    # helpers written under another name: the update counter, number formatting, listeners
    # added and removed by hand instead of through lifetime().listen
    for body in ("dataset.updates", "toLocaleString(", "addEventListener(", "removeEventListener("):
        assert body not in code, f"{name} has its own {body}: use common.js's helper"


def test_every_static_module_is_checked() -> None:
    # a new module is not silently left out of the checks above and below
    assert sorted(p.name for p in STATIC.glob("*.js")) == sorted((*VIEWS, "common.js"))


@pytest.mark.parametrize("name", (*VIEWS, "common.js"))
def test_no_function_in_a_static_module_is_long(name: str) -> None:
    found = functions((STATIC / name).read_text(encoding="utf-8"))
    assert found, "the tokenizer found no function"
    longest = max(found, key=lambda f: f[1])
    assert longest[1] <= MAX_FUNCTION_LINES, (
        f"{name}: the function at line {longest[0]} has {longest[1]} lines"
    )
