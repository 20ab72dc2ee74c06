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
