// PeerView: one peer's counters, links and data, all from the `peer` trait (docs/views.md,
// "PeerView"). Each section is redrawn only when its part of the trait changed.
// A click (or Enter) on a field asks Python why it holds its value: {type: "explain", req,
// soul, key}; the answer {type: "explain", req, summary, notes, rows, error} fills the
// "why" pane under the data (an answer to an older click is ignored).
// The header's "live" checkbox sets the `live` trait; unticked, the view is frozen at
// `frozen_at` (Python sends no new `peer` then); `closed` shows a note that its Lab is closed.

import { html, fmtInt, viewRoot, bump, closest, lifetime, errorBanner, liveToggle, TRANSPORTS } from "./common.js";

const COUNTERS = ["heard", "said", "dropped", "lost", "puts", "errors"];
const MAX_DATA_ROWS = 300;


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
  const life = lifetime();
  const root = viewRoot(el, "peer", "gk-peer");
  const header = html("div", "gk-header", root);
  const name = html("span", "gk-title", header, "peer");
  const pid = html("span", "gk-mono gk-muted gk-pid", header);

  const drawLive = liveToggle(model, header, root, life);
  errorBanner(model, root, null, life);
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
  const whySec = html("section", "gk-explain", bodyEl);
  whySec.hidden = true;
  const whyHead = html("h5", "", whySec);
  html("span", "", whyHead, "why ");
  const whyTitle = html("code", "gk-explain-field", whyHead); // souls are case-sensitive:
  whyTitle.style.textTransform = "none"; // not in the heading's capitals
  const whyClose = html("button", "gk-explain-close", whyHead, "×");
  whyClose.title = "close";
  whyClose.style.marginLeft = "8px";
  const whyStatus = html("div", "gk-note gk-explain-status", whySec);
  const whySummary = html("div", "gk-explain-summary", whySec);
  const whyNotes = html("ul", "gk-explain-notes gk-note", whySec);
  const whyBox = html("div", "", whySec);
  const sig = { links: null, data: null };
  const ask = { req: 0, soul: "", key: "" };

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
        const tr = html("tr", "gk-field", tb);
        tr.dataset.soul = soul;
        tr.dataset.key = k;
        tr.tabIndex = 0;
        tr.title = "why does it hold this value?";
        tr.style.cursor = "pointer";
        markField(tr);
        html("td", "gk-soul", tr, soul);
        html("td", "", tr, k);
        html("td", "gk-value", tr, fmtValue(node[k]));
        n++;
      }
    }
    if (more) html("div", "gk-note", dataBox, `… ${fmtInt(more)} more values not shown`);
    if (truncated) html("div", "gk-note", dataBox, "the peer holds more data than was sent (truncated)");
  }
  function markField(tr) {
    const on = !whySec.hidden && tr.dataset.soul === ask.soul && tr.dataset.key === ask.key;
    tr.classList.toggle("gk-selected", on);
    tr.style.background = on ? "var(--gk-sel-bg)" : "";
  }
  function explain(soul, key) {
    ask.req += 1;
    ask.soul = soul;
    ask.key = key;
    whySec.hidden = false;
    whyTitle.textContent = `${soul}.${key}`;
    whyStatus.textContent = "asking… (answered when the kernel is free)";
    whySummary.textContent = "";
    whyNotes.textContent = "";
    whyBox.textContent = "";
    for (const tr of dataBox.querySelectorAll("tr.gk-field")) markField(tr);
    model.send({ type: "explain", req: ask.req, soul, key });
  }
  const VERDICT_CLASS = {
    accepted: "gk-state-good",
    "kept-current": "gk-state-wait",
    same: "gk-muted",
    ignored: "gk-state-bad",
    deferred: "gk-state-wait",
    refused: "gk-state-bad",
    unexplained: "gk-state-bad",
  };
  function drawExplain(msg) {
    whyStatus.textContent = msg.error ? String(msg.error) : "";
    whyStatus.classList.toggle("gk-state-bad", !!msg.error);
    whySummary.textContent = msg.error ? "" : String(msg.summary || "");
    whyNotes.textContent = "";
    for (const n of Array.isArray(msg.notes) ? msg.notes : []) html("li", "", whyNotes, String(n));
    whyBox.textContent = "";
    const rows = Array.isArray(msg.rows) ? msg.rows : [];
    if (!rows.length) return;
    if (msg.hidden) html("div", "gk-note", whyBox, `… ${fmtInt(msg.hidden)} older writes not shown`);
    const t = html("table", "gk-table gk-explain-rows", whyBox);
    const h = html("tr", "", html("thead", "", t));
    for (const x of ["#", "arrived", "value", "state", "from", "wire", "verdict", "why"]) html("th", "", h, x);
    const tb = html("tbody", "", t);
    for (const r of rows) {
      const tr = html("tr", "gk-explain-row", tb);
      tr.dataset.n = String(r.n);
      tr.dataset.verdict = String(r.verdict || "");
      tr.dataset.winner = String(!!r.winner);
      if (r.winner) tr.style.background = "var(--gk-sel-bg)";
      html("td", "", tr, `${r.winner ? "★ " : ""}#${r.n}`);
      html("td", "gk-mono", tr, `+${(+r.at || 0).toFixed(3)} s`).style.whiteSpace = "nowrap";
      html("td", "gk-value", tr, `${r.value ?? ""}${r.preview ? " (preview)" : ""}`);
      html("td", "gk-mono", tr, String(r.state_text ?? r.state ?? "?"));
      html("td", "gk-explain-from", tr, String(r.from ?? ""));
      const tt = TRANSPORTS.includes(r.via) ? r.via : "unknown";
      html("span", `gk-chip gk-t-${tt}-text`, html("td", "gk-explain-via", tr), String(r.via || (r.source === "local" ? "local" : "?")));
      html("td", `gk-explain-verdict ${VERDICT_CLASS[r.verdict] || ""}`, tr, String(r.verdict || ""));
      const why = html("td", "gk-explain-why", tr, String(r.reason || ""));
      if (r.then) html("div", "gk-muted", why, `then: ${r.then}`);
    }
  }
  const onData = (ev) => {
    if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") return;
    const tr = closest(ev, "tr.gk-field");
    if (!tr) return;
    if (ev.type === "keydown") ev.preventDefault();
    explain(tr.dataset.soul, tr.dataset.key);
  };
  life.listen(dataBox, "click", onData);
  life.listen(dataBox, "keydown", onData);
  const onClose = () => {
    whySec.hidden = true;
    ask.req += 1; // a late answer to the closed question is ignored
    for (const tr of dataBox.querySelectorAll("tr.gk-field")) markField(tr);
  };
  life.listen(whyClose, "click", onClose);
  const onMsg = (msg) => {
    if (!msg || msg.type !== "explain" || msg.req !== ask.req) return;
    drawExplain(msg);
    // in sight (views.css pins the pane at the bottom of the peer's scroll box; this brings
    // that bottom on screen when the page is scrolled so that it is not)
    if (whySec.scrollIntoView) whySec.scrollIntoView({ block: "nearest" });
    bump(root);
  };
  life.listen(model, "msg:custom", onMsg);

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
    bump(root);
  };
  const onHeight = () => {
    const h = +model.get("height");
    root.style.maxHeight = h > 0 ? `${h}px` : "";
  };
  life.listen(model, "change:peer", onPeer);
  life.listen(model, "change:height", () => (onHeight(), bump(root)));
  onHeight();
  draw();
  drawLive();
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
  life.later(() => shown && model.send({ type: "visible", on: false }));
  if (observer) {
    observer.observe(root);
    life.later(() => observer.disconnect()); // ends first: `later`s run newest first
  }

  return () => {
    life.end();
    root.remove();
  };
}

export default { render };
