// PeerView: one peer's counters, links and data, all from the `peer` trait (docs/views.md,
// "PeerView"). Each section is redrawn only when its part of the trait changed.

import { html, errorBanner } from "./common.js";

const COUNTERS = ["heard", "said", "dropped", "lost", "puts", "errors"];
const MAX_DATA_ROWS = 300;

const fmtInt = (n) => (Number.isFinite(+n) ? Math.round(+n).toLocaleString("en-US") : "0");
const TRANSPORTS = ["ws", "dc", "memory"];

function fmtValue(v) {
  if (v && typeof v === "object" && !Array.isArray(v) && typeof v["#"] === "string" && Object.keys(v).length === 1) {
    return `→ ${v["#"]}`;
  }
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s;
  } catch (_) {
    return String(v);
  }
}

function render({ model, el }) {
  const root = html("div", "gk-view gk-peer", el);
  root.dataset.view = "peer";
  root.dataset.updates = "0";
  const header = html("div", "gk-header", root);
  const name = html("span", "gk-title", header, "peer");
  const pid = html("span", "gk-mono gk-muted gk-pid", header);
  const offError = errorBanner(model, root, null, () => bump());
  const bodyEl = html("div", "gk-peer-body", root);
  const counters = html("div", "gk-counters", bodyEl);
  const cells = {};
  for (const c of COUNTERS) {
    const box = html("div", "gk-counter", counters);
    box.dataset.counter = c;
    cells[c] = html("div", "gk-counter-value", box, "0");
    html("div", "gk-counter-label", box, c);
  }
  const linksSec = html("section", "", bodyEl);
  html("h5", "", linksSec, "links");
  const linksBox = html("div", "", linksSec);
  const dataSec = html("section", "", bodyEl);
  html("h5", "", dataSec, "data");
  const dataBox = html("div", "", dataSec);
  const sig = { links: null, data: null };

  const bump = () => {
    root.dataset.updates = String((+root.dataset.updates || 0) + 1);
  };

  function drawLinks(links) {
    linksBox.textContent = "";
    if (!links.length) return html("div", "gk-note", linksBox, "no links");
    const t = html("table", "gk-table gk-links", linksBox);
    const h = html("tr", "", html("thead", "", t));
    for (const x of ["peer", "transport", "state"]) html("th", "", h, x);
    const tb = html("tbody", "", t);
    for (const l of links) {
      const tr = html("tr", "", tb);
      html("td", "", tr, String(l.peer ?? ""));
      const tt = TRANSPORTS.includes(l.transport) ? l.transport : "unknown";
      html("span", `gk-chip gk-t-${tt}-text`, html("td", "", tr), String(l.transport ?? "?"));
      html("td", "", tr, String(l.state ?? ""));
    }
  }
  function drawData(data, truncated) {
    dataBox.textContent = "";
    const souls = data && typeof data === "object" ? Object.keys(data) : [];
    if (!souls.length) return html("div", "gk-note", dataBox, "no data");
    const t = html("table", "gk-table gk-data", dataBox);
    const h = html("tr", "", html("thead", "", t));
    for (const x of ["soul", "key", "value"]) html("th", "", h, x);
    const tb = html("tbody", "", t);
    let n = 0;
    let more = 0;
    for (const soul of souls) {
      const node = data[soul];
      const keys = node && typeof node === "object" ? Object.keys(node) : [];
      for (const k of keys) {
        if (k === "_") continue;
        if (n >= MAX_DATA_ROWS) {
          more++;
          continue;
        }
        const tr = html("tr", "", tb);
        html("td", "gk-soul", tr, soul);
        html("td", "", tr, k);
        html("td", "gk-value", tr, fmtValue(node[k]));
        n++;
      }
    }
    if (more) html("div", "gk-note", dataBox, `… ${fmtInt(more)} more values not shown`);
    if (truncated) html("div", "gk-note", dataBox, "the peer holds more data than was sent (truncated)");
  }
  function draw() {
    const p = model.get("peer") || {};
    name.textContent = String(p.name || p.pid || "peer");
    pid.textContent = p.pid ? String(p.pid) : "";
    const c = p.counters || {};
    for (const k of COUNTERS) {
      const s = fmtInt(c[k] || 0);
      if (cells[k].textContent !== s) cells[k].textContent = s;
      cells[k].parentElement.classList.toggle("gk-warn", (k === "errors" || k === "lost") && +c[k] > 0);
    }
    const links = Array.isArray(p.links) ? p.links : [];
    const ls = JSON.stringify(links);
    if (ls !== sig.links) {
      sig.links = ls;
      drawLinks(links);
    }
    const ds = JSON.stringify([p.data || {}, !!p.truncated]);
    if (ds !== sig.data) {
      sig.data = ds;
      drawData(p.data || {}, !!p.truncated);
    }
  }
  const onPeer = () => {
    draw();
    bump();
  };
  const onHeight = () => {
    const h = +model.get("height");
    root.style.maxHeight = h > 0 ? `${h}px` : "";
  };
  const onHeightTrait = () => (onHeight(), bump());
  model.on("change:peer", onPeer);
  model.on("change:height", onHeightTrait);
  onHeight();
  draw();
  model.send({ type: "hello" }); // lets Python push a fresh `peer` now that it is shown
  // A peer view in a hidden tab (the dashboard has one per peer) or scrolled away asks Python
  // to stop refreshing it: every trait update reaches the browser whether shown or not.
  let shown = null;
  const observer =
    typeof IntersectionObserver === "function"
      ? new IntersectionObserver((entries) => {
          const on = entries.some((e) => e.isIntersecting);
          if (on !== shown) {
            shown = on;
            root.dataset.shown = String(on);
            model.send({ type: "visible", on });
          }
        })
      : null;
  if (observer) observer.observe(root);

  return () => {
    if (observer) observer.disconnect();
    if (shown) model.send({ type: "visible", on: false });
    model.off("change:peer", onPeer);
    model.off("change:height", onHeightTrait);
    offError();
    root.remove();
  };
}

export default { render };
