// What every view module shares. Each view imports these names from this sibling file; the
// package inlines this file into each module when it hands the module to anywidget (see
// gunrtc_kit/lab/views/base.py: a module given as text cannot import a sibling file), while
// a browser that loads the files themselves (the front-end tests) resolves the import.
// Inlined means: every top-level name here is in scope in every view, so a view must not
// declare one of these names itself (tests/lab/test_frontend_modules.py checks).

export const NS = "http://www.w3.org/2000/svg";
export const TRANSPORTS = ["ws", "dc", "memory"];

export function html(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

export function svg(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

// An integer with thousands separators; "0" for what is not a number.
export function fmtInt(n) {
  return Number.isFinite(+n) ? Math.round(+n).toLocaleString("en-US") : "0";
}

// The view's root element: `data-view` names it, `data-updates` counts the updates it drew.
export function viewRoot(el, name, cls) {
  const root = html("div", `gk-view ${cls}`, el);
  root.dataset.view = name;
  root.dataset.updates = "0";
  return root;
}

// The test hook: one more update drawn (the browser tests wait on `data-updates`).
export function bump(root) {
  root.dataset.updates = String((+root.dataset.updates || 0) + 1);
}

// Sets traits ({name: value}) and sends them to Python.
export function save(model, values) {
  for (const k in values) model.set(k, values[k]);
  model.save_changes();
}

// The nearest element matching `sel` from an event's target (event delegation).
export function closest(ev, sel) {
  return ev.target && ev.target.closest ? ev.target.closest(sel) : null;
}

// What one rendered view holds on to, released in one call. `listen` subscribes `fn` to a DOM
// event (through the lifetime's AbortController) or to a model event (anywidget's on/off);
// `later` runs `fn` at the end (timers, observers); `end()` undoes all of it at once.
export function lifetime() {
  const ac = new AbortController();
  const undo = [];
  const life = {
    get dead() {
      return ac.signal.aborted;
    },
    listen(target, type, fn, opts) {
      if (typeof target.addEventListener === "function") {
        target.addEventListener(type, fn, { ...(opts || {}), signal: ac.signal });
      } else {
        target.on(type, fn);
        undo.push(() => target.off(type, fn));
      }
      return fn;
    },
    later(fn) {
      undo.push(fn);
    },
    end() {
      if (ac.signal.aborted) return;
      ac.abort();
      for (const fn of undo.splice(0).reverse()) fn();
    },
  };
  return life;
}

// A ResizeObserver calling `fn` for `targets`, disconnected when `life` ends (none where the
// browser has no ResizeObserver).
export function observeSize(life, targets, fn) {
  if (typeof ResizeObserver !== "function") return;
  const ro = new ResizeObserver(() => fn());
  for (const t of targets) ro.observe(t);
  life.later(() => ro.disconnect());
}

// Python's `error` trait (set when a view failed to tick or to answer), shown as a banner;
// else its `notice` (what the hub dropped when the views' queue was full).
export function errorBanner(model, parent, before, life) {
  const box = document.createElement("div");
  box.className = "gk-error";
  box.setAttribute("role", "alert");
  parent.insertBefore(box, before || null);
  const show = () => {
    const e = model.get("error") || model.get("notice");
    box.textContent = e ? String(e) : "";
    box.hidden = !e;
  };
  life.listen(model, "change:error", () => (show(), bump(parent)));
  life.listen(model, "change:notice", () => (show(), bump(parent)));
  show();
  return box;
}

// The versioned stream of a view whose state comes as a `reset` then `diff`s continuing it
// (`diff.from` is the version it applies to, `v` the one it makes). A diff that does not
// continue what is shown asks for a new reset (`hello`), at most once a second while one is
// awaited. `onReset(msg, again)` (again: something was shown before), `onDiff(msg)`.
// Messages go to `reset` and `diff`; `v` is the version shown (-1: none yet).
export function diffStream(model, onReset, onDiff) {
  const st = { v: -1, helloAt: -1e9, awaiting: false };
  st.hello = () => {
    st.helloAt = performance.now();
    st.awaiting = true;
    model.send({ type: "hello" });
  };
  // a full state (a reset, or the `snapshot` trait): shown, its version adopted
  st.adopt = (msg) => {
    onReset(msg, st.v >= 0);
    if (Number.isFinite(+msg.v)) st.v = +msg.v;
  };
  st.reset = (msg) => {
    st.awaiting = false;
    st.adopt(msg);
  };
  // true when the diff was applied
  st.diff = (msg) => {
    if (st.v >= 0 && msg.from === st.v) {
      onDiff(msg);
      st.v = +msg.v;
      return true;
    }
    const stale = st.v >= 0 && Number.isFinite(+msg.v) && +msg.v <= st.v; // covered by a newer reset: ignored
    if (!stale && (!st.awaiting || performance.now() - st.helloAt > 1000)) st.hello();
    return false;
  };
  return st;
}

export function kindColor(kind) {
  const k = String(kind || "");
  if (k === "put") return "#16a34a";
  if (k === "get") return "#2563eb";
  if (k === "ack") return "#6b7280";
  if (k === "reply") return "#9333ea";
  if (k.startsWith("rtc")) return "#dc2626";
  if (k.startsWith("dam")) return "#a16207";
  return "#64748b";
}

// Live or frozen (the `live` trait): a frozen view keeps what was true when its cell ran; the
// checkbox lets the user follow instead. `closed`: its Lab is closed. Adds the checkbox and the
// "as of" label to `header` and a closed note to `root`; `also(live, closed)` runs after each
// draw (a view hides what a frozen view cannot do). Returns the draw function.
export function liveToggle(model, header, root, life, also) {
  const box = html("label", "gk-live", header);
  box.title = "frozen: shows what was true when the cell ran; tick to follow the peer";
  const check = html("input", "gk-live-toggle", box);
  check.type = "checkbox";
  html("span", "", box, " live");
  const asOf = html("span", "gk-muted gk-frozen-at", header);
  const note = html("div", "gk-note gk-closed", root);
  note.hidden = true;
  const draw = () => {
    const live = model.get("live") !== false; // no trait (an older model): live
    const closed = !!model.get("closed");
    check.checked = live && !closed;
    check.disabled = closed;
    root.dataset.live = String(live);
    root.dataset.closed = String(closed);
    const at = String(model.get("frozen_at") || "");
    asOf.textContent = closed ? "closed" : live ? "" : at ? `as of ${at}` : "frozen";
    note.hidden = !closed;
    note.textContent = closed ? "closed: this view's Lab is closed; it shows its last state" : "";
    if (also) also(live, closed);
  };
  for (const t of ["change:live", "change:frozen_at", "change:closed"]) life.listen(model, t, () => (draw(), bump(root)));
  life.listen(check, "change", () => save(model, { live: check.checked }));
  return draw;
}

// ---------- step mode: a held frame's menu (see gunrtc_kit/lab/views/stepping.py) ----------
export const STEP_ACTIONS = ["deliver", "drop", "duplicate"];

// The menu a click on a held frame opens in `parent` (positioned): deliver / drop / duplicate.
// A choice sends {type: "step", action, frame, req}; Python's {type: "stepped", req, ok, text}
// (given to `answered`, true when it was this menu's) is shown in it: what was done, or why
// not. Only when the `steppable` trait is true (a Lab's view; a replay offers nothing).
// Escape or the × closes it.
export function stepMenu(model, parent, life) {
  const box = html("div", "gk-step-menu", parent);
  box.hidden = true;
  box.setAttribute("role", "menu");
  const head = html("div", "gk-step-head", box);
  const title = html("span", "gk-step-title", head);
  const close = html("button", "gk-step-close", head, "×");
  close.type = "button";
  close.setAttribute("aria-label", "close");
  const row = html("div", "gk-step-actions", box);
  const buttons = STEP_ACTIONS.map((a) => {
    const b = html("button", `gk-step-${a}`, row, a);
    b.type = "button";
    b.dataset.action = a;
    b.setAttribute("role", "menuitem");
    return b;
  });
  const answer = html("div", "gk-step-answer", box);
  const m = { frame: "", req: 0, next: Math.floor(Math.random() * 1e6) * 1000 + 1, box };
  const enable = (on) => buttons.forEach((b) => (b.disabled = !on));
  m.can = () => !!model.get("steppable");
  m.open = (frame, text, x, y) => {
    if (!m.can() || !frame) return false;
    m.frame = String(frame);
    m.req = 0;
    box.dataset.frame = m.frame;
    title.textContent = text;
    answer.textContent = "";
    delete answer.dataset.ok;
    enable(true);
    box.hidden = false;
    const pw = parent.clientWidth || 400;
    const ph = parent.clientHeight || 300;
    box.style.left = `${Math.max(4, Math.min(x + 8, pw - box.offsetWidth - 4))}px`;
    box.style.top = `${Math.max(4, Math.min(y + 8, ph - box.offsetHeight - 4))}px`;
    return true;
  };
  m.close = () => {
    box.hidden = true;
    m.frame = "";
    m.req = 0;
  };
  m.answered = (msg) => {
    if (!msg || msg.type !== "stepped" || !m.req || msg.req !== m.req) return false;
    answer.textContent = String(msg.text ?? "");
    answer.dataset.ok = msg.ok ? "1" : "0";
    m.req = 0;
    // a delivered or dropped frame is no longer held: nothing more to do with it here
    enable(!msg.ok || box.dataset.last === "duplicate");
    return true;
  };
  life.listen(row, "click", (ev) => {
    const b = closest(ev, "button[data-action]");
    if (!b || !m.frame || b.disabled) return;
    m.req = m.next++;
    box.dataset.last = b.dataset.action;
    enable(false);
    answer.textContent = `${b.dataset.action}…`;
    delete answer.dataset.ok;
    model.send({ type: "step", action: b.dataset.action, frame: m.frame, req: m.req });
  });
  life.listen(close, "click", () => m.close());
  life.listen(box, "keydown", (ev) => ev.key === "Escape" && m.close());
  for (const t of ["pointerdown", "pointerup", "wheel"]) life.listen(box, t, (ev) => ev.stopPropagation());
  return m;
}

// One line saying what a held frame is: "f3 alice → relay · put #abc (copy of f1)".
export function heldText(d, label) {
  const kinds = Array.isArray(d.kinds) ? d.kinds : [];
  const ids = Array.isArray(d.ids) ? d.ids : [];
  const what = kinds.map((k, i) => `${k}${ids[i] ? ` #${ids[i]}` : ""}`).join(", ") || "empty frame";
  const copy = d.copy_of ? ` (copy of ${d.copy_of})` : "";
  return `${d.frame} ${label(d.from)} → ${label(d.to)} · ${what}${copy}`;
}
