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

const VERDICT_CLASS = {
  accepted: "gk-state-good",
  "kept-current": "gk-state-wait",
  same: "gk-muted",
  ignored: "gk-state-bad",
  deferred: "gk-state-wait",
  refused: "gk-state-bad",
  unexplained: "gk-state-bad",
};

// Everything one rendered peer view holds: its model, its lifetime (listeners, observers), its
// elements (filled in by the build functions) and what it last drew.
function newState(model) {
  return {
    model,
    life: lifetime(),
    sig: { links: null, data: null }, // what the links and data sections show (JSON)
    ask: { req: 0, soul: "", key: "" }, // the field whose "why" was asked last
    shown: null, // on screen (IntersectionObserver), null before it first said
  };
}

// ---------- DOM ----------
function buildHeader(st) {
  st.header = html("div", "gk-header", st.root);
  st.name = html("span", "gk-title", st.header, "peer");
  st.pid = html("span", "gk-mono gk-muted gk-pid", st.header);
}
function buildCounters(st, body) {
  const counters = html("div", "gk-counters", body);
  st.cells = {};
  for (const c of COUNTERS) {
    const box = html("div", "gk-counter", counters);
    box.dataset.counter = c;
    st.cells[c] = html("div", "gk-counter-value", box, "0");
    html("div", "gk-counter-label", box, c);
  }
}
function buildSections(st, body) {
  const linksSec = html("section", "", body);
  html("h5", "", linksSec, "links");
  st.linksBox = html("div", "", linksSec);
  const dataSec = html("section", "", body);
  html("h5", "", dataSec, "data");
  st.dataBox = html("div", "", dataSec);
}
function buildWhy(st, body) {
  const whySec = (st.whySec = html("section", "gk-explain", body));
  whySec.hidden = true;
  const whyHead = html("h5", "", whySec);
  html("span", "", whyHead, "why ");
  st.whyTitle = html("code", "gk-explain-field", whyHead); // souls are case-sensitive:
  st.whyTitle.style.textTransform = "none"; // not in the heading's capitals
  st.whyClose = html("button", "gk-explain-close", whyHead, "×");
  st.whyClose.title = "close";
  st.whyClose.style.marginLeft = "8px";
  st.whyStatus = html("div", "gk-note gk-explain-status", whySec);
  st.whySummary = html("div", "gk-explain-summary", whySec);
  st.whyNotes = html("ul", "gk-explain-notes gk-note", whySec);
  st.whyBox = html("div", "", whySec);
}
function buildBody(st) {
  const body = html("div", "gk-peer-body", st.root);
  buildCounters(st, body);
  buildSections(st, body);
  buildWhy(st, body);
}

// ---------- sections ----------
function drawCounters(st, c) {
  for (const k of COUNTERS) {
    const s = fmtInt(c[k] || 0);
    if (st.cells[k].textContent !== s) st.cells[k].textContent = s;
    st.cells[k].parentElement.classList.toggle("gk-warn", (k === "errors" || k === "lost") && +c[k] > 0);
  }
}
function drawLinks(st, links) {
  const box = st.linksBox;
  box.textContent = "";
  if (!links.length) return html("div", "gk-note", box, "no links");
  const t = html("table", "gk-table gk-links", box);
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
function dataRow(st, tb, soul, k, value) {
  const tr = html("tr", "gk-field", tb);
  tr.dataset.soul = soul;
  tr.dataset.key = k;
  tr.tabIndex = 0;
  tr.title = "why does it hold this value?";
  tr.style.cursor = "pointer";
  markField(st, tr);
  html("td", "gk-soul", tr, soul);
  html("td", "", tr, k);
  html("td", "gk-value", tr, fmtValue(value));
}
function drawData(st, data, truncated) {
  const box = st.dataBox;
  box.textContent = "";
  const souls = data && typeof data === "object" ? Object.keys(data) : [];
  if (!souls.length) return html("div", "gk-note", box, "no data");
  const t = html("table", "gk-table gk-data", box);
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
      dataRow(st, tb, soul, k, node[k]);
      n++;
    }
  }
  if (more) html("div", "gk-note", box, `… ${fmtInt(more)} more values not shown`);
  if (truncated) html("div", "gk-note", box, "the peer holds more data than was sent (truncated)");
}
// Each section is redrawn only when its part of the `peer` trait changed.
function draw(st) {
  const p = st.model.get("peer") || {};
  st.name.textContent = String(p.name || p.pid || "peer");
  st.pid.textContent = p.pid ? String(p.pid) : "";
  drawCounters(st, p.counters || {});
  const links = Array.isArray(p.links) ? p.links : [];
  const ls = JSON.stringify(links);
  if (ls !== st.sig.links) {
    st.sig.links = ls;
    drawLinks(st, links);
  }
  const ds = JSON.stringify([p.data || {}, !!p.truncated]);
  if (ds !== st.sig.data) {
    st.sig.data = ds;
    drawData(st, p.data || {}, !!p.truncated);
  }
}

// ---------- "why": the selected field and Python's answer ----------
function markField(st, tr) {
  const on = !st.whySec.hidden && tr.dataset.soul === st.ask.soul && tr.dataset.key === st.ask.key;
  tr.classList.toggle("gk-selected", on);
  tr.style.background = on ? "var(--gk-sel-bg)" : "";
}
function markFields(st) {
  for (const tr of st.dataBox.querySelectorAll("tr.gk-field")) markField(st, tr);
}
function explain(st, soul, key) {
  const { ask } = st;
  ask.req += 1;
  ask.soul = soul;
  ask.key = key;
  st.whySec.hidden = false;
  st.whyTitle.textContent = `${soul}.${key}`;
  st.whyStatus.textContent = "asking… (answered when the kernel is free)";
  st.whySummary.textContent = "";
  st.whyNotes.textContent = "";
  st.whyBox.textContent = "";
  markFields(st);
  st.model.send({ type: "explain", req: ask.req, soul, key });
}
function explainRow(tb, r) {
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
function drawExplain(st, msg) {
  st.whyStatus.textContent = msg.error ? String(msg.error) : "";
  st.whyStatus.classList.toggle("gk-state-bad", !!msg.error);
  st.whySummary.textContent = msg.error ? "" : String(msg.summary || "");
  st.whyNotes.textContent = "";
  for (const n of Array.isArray(msg.notes) ? msg.notes : []) html("li", "", st.whyNotes, String(n));
  const box = st.whyBox;
  box.textContent = "";
  const rows = Array.isArray(msg.rows) ? msg.rows : [];
  if (!rows.length) return;
  if (msg.hidden) html("div", "gk-note", box, `… ${fmtInt(msg.hidden)} older writes not shown`);
  const t = html("table", "gk-table gk-explain-rows", box);
  const h = html("tr", "", html("thead", "", t));
  for (const x of ["#", "arrived", "value", "state", "from", "wire", "verdict", "why"]) html("th", "", h, x);
  const tb = html("tbody", "", t);
  for (const r of rows) explainRow(tb, r);
}
function onData(st, ev) {
  if (ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") return;
  const tr = closest(ev, "tr.gk-field");
  if (!tr) return;
  if (ev.type === "keydown") ev.preventDefault();
  explain(st, tr.dataset.soul, tr.dataset.key);
}
function onClose(st) {
  st.whySec.hidden = true;
  st.ask.req += 1; // a late answer to the closed question is ignored
  markFields(st);
}
function onMsg(st, msg) {
  if (!msg || msg.type !== "explain" || msg.req !== st.ask.req) return;
  drawExplain(st, msg);
  // in sight (views.css pins the pane at the bottom of the peer's scroll box; this brings
  // that bottom on screen when the page is scrolled so that it is not)
  if (st.whySec.scrollIntoView) st.whySec.scrollIntoView({ block: "nearest" });
  bump(st.root);
}

// ---------- traits, visibility ----------
function onHeight(st) {
  const h = +st.model.get("height");
  st.root.style.maxHeight = h > 0 ? `${h}px` : "";
}
function listenAll(st) {
  const { life, model, root } = st;
  life.listen(st.dataBox, "click", (ev) => onData(st, ev));
  life.listen(st.dataBox, "keydown", (ev) => onData(st, ev));
  life.listen(st.whyClose, "click", () => onClose(st));
  life.listen(model, "msg:custom", (msg) => onMsg(st, msg));
  life.listen(model, "change:peer", () => (draw(st), bump(root)));
  life.listen(model, "change:height", () => (onHeight(st), bump(root)));
}
// A peer view in a hidden tab (the dashboard has one per peer) or scrolled away asks Python
// to stop refreshing it: every trait update reaches the browser whether shown or not.
function watchVisibility(st) {
  const { life, model, root } = st;
  const observer =
    typeof IntersectionObserver === "function"
      ? new IntersectionObserver((entries) => {
          const on = entries.some((e) => e.isIntersecting);
          if (on !== st.shown) {
            st.shown = on;
            root.dataset.shown = String(on);
            model.send({ type: "visible", on });
          }
        })
      : null;
  life.later(() => st.shown && model.send({ type: "visible", on: false }));
  if (observer) {
    observer.observe(root);
    life.later(() => observer.disconnect()); // ends first: `later`s run newest first
  }
}

function render({ model, el }) {
  const st = newState(model);
  const { life } = st;
  st.root = viewRoot(el, "peer", "gk-peer");
  buildHeader(st);
  const drawLive = liveToggle(model, st.header, st.root, life);
  errorBanner(model, st.root, null, life);
  buildBody(st);
  listenAll(st);

  onHeight(st);
  draw(st);
  drawLive();
  model.send({ type: "hello" }); // lets Python push a fresh `peer` now that it is shown
  watchVisibility(st);

  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
