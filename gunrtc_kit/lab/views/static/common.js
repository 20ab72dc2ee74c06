// What every view module shares. Each view imports these names from this sibling file; the
// package inlines this file into each module when it hands the module to anywidget (see
// gunrtc_kit/lab/views/base.py: a module given as text cannot import a sibling file), while
// a browser that loads the files themselves (the front-end tests) resolves the import.

export const NS = "http://www.w3.org/2000/svg";

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

export // Python's `error` trait (set when a view failed to tick or to answer), shown as a banner.
function errorBanner(model, parent, before, bump) {
  const box = document.createElement("div");
  box.className = "gk-error";
  box.setAttribute("role", "alert");
  parent.insertBefore(box, before || null);
  const show = () => {
    const e = model.get("error");
    box.textContent = e ? String(e) : "";
    box.hidden = !e;
  };
  const onChange = () => (show(), bump());
  model.on("change:error", onChange);
  show();
  return () => model.off("change:error", onChange);
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
// draw (a view hides what a frozen view cannot do). Returns { draw, off }.
export function liveToggle(model, header, root, bump, also) {
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
  const onTrait = () => (draw(), bump());
  const onClick = () => {
    model.set("live", check.checked);
    model.save_changes();
  };
  const traits = ["change:live", "change:frozen_at", "change:closed"];
  check.addEventListener("change", onClick);
  for (const t of traits) model.on(t, onTrait);
  const off = () => {
    check.removeEventListener("change", onClick);
    for (const t of traits) model.off(t, onTrait);
  };
  return { draw, off };
}

