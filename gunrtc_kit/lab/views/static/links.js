// LinkView: the WebRTC links as a list, and the selected one explained (gunrtc_kit/lab/views/
// link_view.py): states, candidates, pairs with the selected one highlighted, a rate chart of
// messages per second each way over the last minute, buffered bytes, RTT and the failure.
// Everything comes in traits: `links` (rows), `detail` (the selected link), `selected`.

import { html, svg, viewRoot, bump, save, closest, lifetime, errorBanner, fmtInt } from "./common.js";

const CHART_W = 520;
const CHART_H = 140;
const PAD = { l: 40, r: 10, t: 18, b: 22 };
const STATE_ROWS = [
  ["pc", "peer connection"],
  ["ice", "ICE"],
  ["gathering", "ICE gathering"],
  ["dtls", "DTLS"],
  ["sctp", "SCTP"],
];

function stateClass(text) {
  const t = String(text || "").toLowerCase();
  if (/fail|closed|disconnect|error/.test(t)) return "gk-state-bad";
  if (/connected|completed|complete|open|succeeded/.test(t)) return "gk-state-good";
  if (/checking|connecting|new|gathering|pending|in-progress|waiting|frozen/.test(t)) return "gk-state-wait";
  return "";
}
const slug = (s) => String(s || "").replace(/[^a-z0-9-]/gi, "");
const rate = (x) => (Number.isFinite(+x) ? (+x >= 10 || +x === 0 ? Math.round(+x) : (+x).toFixed(1)) : "–");

// The chart's top: 1, 2 or 5 times a power of ten, above the highest rate.
function niceTop(v) {
  const m = Math.max(1, v);
  const p = 10 ** Math.floor(Math.log10(m));
  return [1, 2, 5, 10].map((k) => k * p).find((x) => x >= m);
}

// A name, with a "browser" badge when that end is a browser tab.
function who(parent, label, browser) {
  const s = html("span", browser ? "gk-link-who gk-link-browser" : "gk-link-who", parent, String(label ?? "?"));
  if (browser) html("span", "gk-badge gk-badge-browser", parent, "browser").title = "a browser tab (lab.browser())";
  return s;
}
function pill(parent, state) {
  return html("span", `gk-link-state ${stateClass(state)}`, parent, String(state || "?"));
}

// ---------- the list ----------
function drawList(st) {
  const rows = Array.isArray(st.model.get("links")) ? st.model.get("links") : [];
  const sel = String(st.model.get("selected") || "");
  st.list.textContent = "";
  for (const r of rows) {
    const b = html("button", "gk-link-row", st.list);
    b.type = "button";
    b.dataset.id = String(r.id);
    b.dataset.state = String(r.state || "");
    b.setAttribute("aria-pressed", String(String(r.id) === sel));
    const names = html("div", "gk-link-names", b);
    who(names, r.label_a, r.browser_a);
    html("span", "gk-link-arrow", names, "↔");
    who(names, r.label_b, r.browser_b);
    const line = html("div", "gk-link-line", b);
    pill(line, r.state);
    if (r.failure) html("span", "gk-link-failure-class", line, String(r.failure));
  }
  st.empty.hidden = rows.length > 0;
  st.count.textContent = `${rows.length} link${rows.length === 1 ? "" : "s"}`;
}

// ---------- the chart ----------
function chartPath(ts, ys, x, y) {
  let d = "";
  for (let i = 0; i < ts.length; i++) d += `${i ? "L" : "M"}${x(ts[i]).toFixed(1)},${y(ys[i]).toFixed(1)}`;
  return d;
}
function chartAxes(g, top, seconds) {
  const w = CHART_W - PAD.l - PAD.r;
  const h = CHART_H - PAD.t - PAD.b;
  svg("rect", { x: PAD.l, y: PAD.t, width: w, height: h, class: "gk-chart-frame" }, g);
  for (const [frac, label] of [[0, `${rate(top)}`], [0.5, `${rate(top / 2)}`], [1, "0"]]) {
    const yy = PAD.t + h * frac;
    svg("line", { x1: PAD.l, x2: PAD.l + w, y1: yy, y2: yy, class: "gk-chart-grid" }, g);
    svg("text", { x: PAD.l - 4, y: yy + 4, class: "gk-chart-label", "text-anchor": "end" }, g).textContent = label;
  }
  const unit = svg("text", { x: PAD.l, y: 11, class: "gk-chart-label gk-chart-unit" }, g);
  unit.textContent = "messages/s";
  for (const [frac, label] of [[0, `−${seconds} s`], [0.5, `−${seconds / 2} s`], [1, "now"]]) {
    const anchor = frac === 0 ? "start" : frac === 1 ? "end" : "middle";
    svg("text", { x: PAD.l + w * frac, y: CHART_H - 6, class: "gk-chart-label", "text-anchor": anchor }, g).textContent = label;
  }
}
function drawChart(parent, detail) {
  const s = detail.series || {};
  const ts = Array.isArray(s.t) ? s.t : [];
  const ab = Array.isArray(s.ab) ? s.ab : [];
  const ba = Array.isArray(s.ba) ? s.ba : [];
  const seconds = +s.seconds || 60;
  const top = niceTop(Math.max(...ab, ...ba) * 1.1);
  const box = html("div", "gk-link-chart", parent);
  const el = svg("svg", { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: "gk-chart", role: "img" }, box);
  el.setAttribute("aria-label", `messages per second each way over the last ${seconds} s`);
  chartAxes(el, top, seconds);
  const x = (t) => PAD.l + (CHART_W - PAD.l - PAD.r) * (1 + Math.max(-seconds, Math.min(0, +t)) / seconds);
  const y = (v) => PAD.t + (CHART_H - PAD.t - PAD.b) * (1 - Math.max(0, +v) / top);
  svg("path", { d: chartPath(ts, ab, x, y), class: "gk-chart-line gk-chart-ab" }, el);
  svg("path", { d: chartPath(ts, ba, x, y), class: "gk-chart-line gk-chart-ba" }, el);
  if (ts.length === 1) {
    // one sample so far: a dot each way (a path of one point draws nothing)
    svg("circle", { cx: x(ts[0]), cy: y(ab[0]), r: 3, class: "gk-chart-dot gk-chart-ab" }, el);
    svg("circle", { cx: x(ts[0]), cy: y(ba[0]), r: 3, class: "gk-chart-dot gk-chart-ba" }, el);
  }
  const legend = html("div", "gk-chart-legend", box);
  const last = (xs) => (xs.length ? xs[xs.length - 1] : 0);
  html("span", "gk-key gk-key-ab", legend, `${detail.label_a} → ${detail.label_b}: ${rate(last(ab))} msg/s`);
  html("span", "gk-key gk-key-ba", legend, `${detail.label_b} → ${detail.label_a}: ${rate(last(ba))} msg/s`);
  return el;
}

// ---------- tables ----------
function statesTable(parent, sides) {
  const t = html("table", "gk-link-states", parent);
  const head = html("tr", "", html("thead", "", t));
  html("th", "", head, "state");
  for (const s of sides) html("th", "", head, `seen from ${s.node_label}`);
  const body = html("tbody", "", t);
  for (const [k, label] of STATE_ROWS) {
    const tr = html("tr", "", body);
    html("th", "", tr, label);
    for (const s of sides) {
      const v = k === "sctp" ? s.sctp : (s.states || {})[k];
      html("span", stateClass(v), html("td", "", tr), String(v || "–"));
    }
  }
  const extra = [
    ["buffered", (s) => `${fmtInt(s.buffered)} B`],
    ["round-trip time", (s) => (s.rtt_ms == null ? "not measured yet" : `${(+s.rtt_ms).toFixed(1)} ms`)],
  ];
  for (const [label, fn] of extra) {
    const tr = html("tr", "", body);
    html("th", "", tr, label);
    for (const s of sides) html("td", "gk-mono", tr, fn(s));
  }
}
function candTable(parent, title, cands) {
  const box = html("div", "gk-link-cands", parent);
  html("div", "gk-link-sub", box, `${title} (${cands.length})`);
  if (!cands.length) return html("div", "gk-note", box, "none");
  const t = html("table", "gk-link-cand-table", box);
  const head = html("tr", "", html("thead", "", t));
  for (const h of ["address", "resolved", "port", "type", "family"]) html("th", "", head, h);
  const body = html("tbody", "", t);
  for (const c of cands) {
    const tr = html("tr", "gk-cand", body);
    tr.dataset.type = String(c.type || "");
    tr.dataset.family = String(c.family || "");
    html("td", "gk-mono gk-cand-address", tr, c.address ? String(c.address) : "(hidden by the browser)");
    const same = !c.resolved || c.resolved === c.address;
    const resolved = !c.address ? "\u2014" : same ? (c.resolved ? "same" : "not resolved") : String(c.resolved);
    html("td", "gk-mono gk-cand-resolved", tr, resolved);
    html("td", "gk-mono", tr, String(c.port ?? ""));
    html("span", `gk-cand-type gk-cand-${slug(c.type)}`, html("td", "", tr), String(c.type || ""));
    html("td", "", tr, `${c.family || ""}${c.protocol && c.protocol !== "udp" ? ` ${c.protocol}` : ""}`);
  }
  return t;
}
function pairsTable(parent, side) {
  const pairs = Array.isArray(side.pairs) ? side.pairs : [];
  const box = html("div", "gk-link-pairs", parent);
  html("div", "gk-link-sub", box, `candidate pairs checked (${pairs.length})`);
  if (!pairs.length) return html("div", "gk-note", box, "none checked yet");
  const t = html("table", "gk-link-pair-table", box);
  const head = html("tr", "", html("thead", "", t));
  for (const h of ["local", "", "remote", "state", ""]) html("th", "", head, h);
  const body = html("tbody", "", t);
  for (const p of pairs) {
    const tr = html("tr", p.selected ? "gk-pair gk-pair-selected" : "gk-pair", body);
    tr.dataset.state = String(p.state || "");
    html("td", "gk-mono", tr, String(p.local ?? ""));
    html("td", "gk-muted", tr, "→");
    html("td", "gk-mono", tr, String(p.remote ?? ""));
    html("span", stateClass(p.state), html("td", "", tr), String(p.state || ""));
    const note = html("td", "gk-pair-note", tr);
    if (p.selected) html("span", "gk-badge gk-badge-selected", note, "selected");
    if (p.nominated) html("span", "gk-badge", note, "nominated");
  }
  return t;
}

// ---------- the selected link ----------
function drawSide(parent, s, detail) {
  const box = html("section", "gk-link-side", parent);
  box.dataset.node = String(s.node || "");
  const h = html("div", "gk-link-side-head", box);
  html("span", "", h, `from ${s.node_label}`);
  html("span", "gk-muted", h, ` · ${s.samples} sample${s.samples === 1 ? "" : "s"}, ${s.age} s old link`);
  const sel = html("div", "gk-link-selected", box);
  if (s.selected) {
    html("span", "gk-muted", sel, "selected pair ");
    html("span", "gk-mono", sel, `${s.selected.local} ↔ ${s.selected.remote}`);
  } else html("span", "gk-muted", sel, "no pair selected");
  const cands = html("div", "gk-link-cand-cols", box);
  candTable(cands, `local candidates (${s.node_label})`, s.local || []);
  candTable(cands, `remote candidates (${s.peer_label})`, s.remote || []);
  pairsTable(box, s);
  // this end's failure, unless it is the link's (said at the top already)
  if (s.failure && s.why !== detail.why) html("div", "gk-link-why", box, `${s.failure}: ${s.why}`);
}
function drawHead(d, detail) {
  const head = html("div", "gk-link-head", d);
  who(head, detail.label_a, detail.browser_a);
  html("span", "gk-link-arrow", head, "↔");
  who(head, detail.label_b, detail.browser_b);
  pill(head, detail.state);
  if (detail.failure) {
    const f = html("div", "gk-link-failure", d);
    f.setAttribute("role", "alert");
    html("b", "", f, String(detail.failure));
    html("span", "", f, `: ${detail.why || ""}`);
  }
}
function drawDetail(st) {
  const detail = st.model.get("detail") || {};
  const d = st.detail;
  d.textContent = "";
  d.dataset.id = String(detail.id || "");
  if (!detail.id) {
    html("div", "gk-note", d, "no WebRTC link yet: links appear here once a second after they are made");
    return;
  }
  drawHead(d, detail);
  const sides = Array.isArray(detail.sides) ? detail.sides : [];
  const top = html("div", "gk-link-top", d);
  drawChart(top, detail);
  statesTable(top, sides);
  for (const s of sides) drawSide(d, s, detail);
}

// ---------- wiring ----------
function buildLayout(st) {
  const header = html("div", "gk-header", st.root);
  st.titleEl = html("span", "gk-title", header, String(st.model.get("title") || "WebRTC links"));
  html("span", "gk-spring", header);
  st.count = html("span", "gk-count", header, "0 links");
  st.count.setAttribute("role", "status");
  errorBanner(st.model, st.root, null, st.life);
  const body = html("div", "gk-links-body", st.root);
  const pane = html("div", "gk-links-list", body);
  st.list = html("div", "", pane);
  st.empty = html("div", "gk-note", pane, "no WebRTC link yet");
  st.detail = html("div", "gk-link-detail", body);
}
function onClick(st, ev) {
  const b = closest(ev, ".gk-link-row");
  if (!b) return;
  save(st.model, { selected: b.dataset.id });
  drawList(st);
  bump(st.root);
}
function onHeight(st) {
  st.root.style.height = `${+st.model.get("height") || 520}px`;
}

function render({ model, el }) {
  const st = { model, life: lifetime() };
  const { life } = st;
  st.root = viewRoot(el, "links", "gk-linkview");
  buildLayout(st);
  life.listen(model, "change:links", () => (drawList(st), bump(st.root)));
  life.listen(model, "change:selected", () => (drawList(st), bump(st.root)));
  life.listen(model, "change:detail", () => (drawDetail(st), bump(st.root)));
  life.listen(model, "change:height", () => (onHeight(st), bump(st.root)));
  life.listen(st.list, "click", (ev) => onClick(st, ev));
  onHeight(st);
  drawList(st);
  drawDetail(st);
  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
