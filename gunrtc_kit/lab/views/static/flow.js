// FlowView: a sequence diagram over any number of rows (see docs/views.md, "FlowView").
//
// Rows live in Python; this view holds a small cache keyed by logical position and draws
// only the visible rows plus a little overscan. Display row k (0 at the top, newest first)
// is logical position base + count - 1 - k. The spacer is count * 22 px, capped at
// MAX_SPACER; past the cap the scroll position maps proportionally onto the virtual
// height, and wheel / keys scroll the virtual offset by exact pixels so one notch still
// moves a few rows, even over a million rows. With auto-scroll off, new rows shift the
// virtual offset by as many rows, so the user keeps looking at the same logical rows.
//
// Width: lanes shrink down to MIN_LANE_W (labels staggered on two lines when narrow); past
// that the lanes scroll sideways under the time and message columns, which stay pinned
// (translated by the horizontal scroll offset, --gk-sx), and "← n more lanes" / "n more
// lanes →" cues say what is out of sight (a click scrolls to it). Rows name lanes by their
// directory number (`lanes[i].lane`); `lanes` is in display order (relays first, then peers by
// name). Rows keep Python's order (the order the trace emitted them): nothing here re-sorts.

import { NS, html, svg, errorBanner, kindColor } from "./common.js";

const ROW_H = 22;
const HEAD_H = 26;
const HEAD_H2 = 40; // two lines of staggered lane labels
const OVERSCAN = 8;
const CHUNK = 64;
const MAX_RUN = 4; // chunks per request at most
const MAX_SPACER = 1_000_000;
const CACHE_MAX = 4000;
const PENDING_MS = 5000;
const SETTLE_MS = 150;
const TIME_W = 66;
const GUTTER_W = 24;
const MIN_TEXT_W = 150;
const PREF_TEXT_W = 240;
const MIN_LANE_W = 30;
const COMFY_LANE_W = 64; // below this, labels go on two staggered lines
const LOST_OFF = 10; // the lost cross sits this far off the sender's lane
const MARKS = ["heard", "heard-only", "sent", "dup", "lost", "refused", "untraced", "answered", "queued"];
const MARK_ICON = {
  heard: "▶",
  "heard-only": "▶",
  sent: "▷",
  dup: "⊘",
  lost: "✕",
  refused: "⊣",
  untraced: "?",
  answered: "↩",
  queued: "‖",
};
// what each mark means (the legend's and the icons' tooltips; fate.py's Mark says the same)
const MARK_MEANING = {
  heard: "the receiver heard it",
  "heard-only": "heard from a sender whose saying is not traced",
  sent: "said; no sign yet that it arrived or was lost",
  dup: "the receiver had it already (dedup dropped it)",
  lost: "it never arrived (loss, partition, closed wire, gone peer, full queue)",
  refused: "the receiver got it and refused it",
  untraced: "handed to a peer that is not traced: arrival unknown",
  answered: "handed to a peer that is not traced, which answered it: it arrived",
  queued: "the wire is not open yet: it waits in the sender's queue",
};
const JUMPS = ["lost", "dup", "err"];
const FLOW_CSS = `
.gk-flow .gk-pin { transform: translateX(var(--gk-sx, 0px)); z-index: 2; }
.gk-flow.gk-overflow .gk-row .gk-pin, .gk-flow.gk-overflow .gk-lanes-head .gk-pin { background: var(--gk-bg2); }
.gk-flow.gk-overflow .gk-row .gk-text.gk-pin { background: var(--gk-bg); box-shadow: -4px 0 6px -4px var(--gk-border); }
.gk-flow.gk-overflow .gk-row.gk-selected .gk-pin { background-image: linear-gradient(var(--gk-sel-bg), var(--gk-sel-bg)); }
.gk-flow .gk-gutter.gk-pin { z-index: 3; }
.gk-flow .gk-lanes-more { position: absolute; bottom: 18px; z-index: 5; box-shadow: 0 1px 4px rgba(0,0,0,.25); font-size: 11px; line-height: 16px;
  padding: 1px 6px; border-radius: 9px; border: 1px solid var(--gk-accent); cursor: pointer;
  background: color-mix(in srgb, var(--gk-accent) 16%, var(--gk-bg)); color: var(--gk-fg); white-space: nowrap; }
.gk-flow .gk-lanes-more[hidden] { display: none; }
.gk-flow .gk-lanes-more-right { transform: translateX(-100%); }
.gk-flow .gk-times { display: inline-block; margin-right: 6px; padding: 0 5px; border-radius: 8px; font-size: 10.5px;
  font-weight: 700; background: var(--gk-bg2); border: 1px solid var(--gk-border); line-height: 15px; }
.gk-flow .gk-errmark { color: #dc2626; font-weight: 700; margin-right: 4px; }
.gk-flow .gk-jump[disabled] { opacity: 0.5; }
.gk-flow .gk-members { list-style: none; margin: 0; padding: 0; font-size: 11.5px; }
.gk-flow .gk-members li { cursor: pointer; padding: 1px 2px; }
.gk-flow .gk-members li:hover { background: var(--gk-hover-bg); }
`;
const DEFAULT_FILTERS = { peer: "", kind: "", soul: "", transport: "", hide_signaling: false, pair: [] };

function kindClass(kind) {
  const k = String(kind || "");
  if (["put", "get", "ack", "reply"].includes(k)) return `gk-k-${k}`;
  if (k.startsWith("rtc")) return "gk-k-rtc";
  if (k.startsWith("dam")) return "gk-k-dam";
  return "gk-k-other";
}
const fmtInt = (n) => (Number.isFinite(+n) ? Math.round(+n).toLocaleString("en-US") : "0");
const fmtT = (t) => (Number.isFinite(+t) ? (+t).toFixed(3) : "");
const clamp = (x, a, b) => (x < a ? a : x > b ? b : x);

function render({ model, el }) {
  // ---------- DOM ----------
  const root = html("div", "gk-view gk-flow", el);
  root.dataset.view = "flow";
  root.dataset.updates = "0";
  html("style", "", root, FLOW_CSS);

  const bar = html("div", "gk-toolbar", root);
  const mkSelect = (labelText, name) => {
    const lab = html("label", "", bar);
    html("span", "", lab, labelText);
    const s = html("select", `gk-filter-${name}`, lab);
    s.name = name;
    return s;
  };
  const selPeer = mkSelect("peer", "peer");
  const selKind = mkSelect("kind", "kind");
  const soulLab = html("label", "", bar);
  html("span", "", soulLab, "soul");
  const inSoul = html("input", "gk-filter-soul", soulLab);
  inSoul.type = "text";
  inSoul.name = "soul";
  inSoul.placeholder = "soul…";
  inSoul.spellcheck = false;
  const selTransport = mkSelect("transport", "transport");
  for (const [v, t] of [["", "all"], ["ws", "ws"], ["dc", "dc"], ["memory", "memory"]]) {
    const o = html("option", "", selTransport, t);
    o.value = v;
  }
  const hideLab = html("label", "", bar);
  const inHide = html("input", "gk-filter-hide", hideLab);
  inHide.type = "checkbox";
  inHide.name = "hide_signaling";
  html("span", "", hideLab, "hide discovery/signalling");
  const pairChip = html("span", "gk-pair-chip gk-chip", bar);
  const pairText = html("span", "", pairChip);
  const pairClear = html("button", "gk-pair-clear", pairChip, "×");
  pairClear.type = "button";
  pairClear.setAttribute("aria-label", "clear the link filter");
  pairChip.hidden = true;
  const btnPause = html("button", "gk-pause", bar, "pause");
  btnPause.type = "button";
  const btnFollow = html("button", "gk-follow", bar, "auto-scroll");
  btnFollow.type = "button";
  btnFollow.title = "keep the newest messages in view";
  const btnGroup = html("button", "gk-group", bar, "group repeats");
  btnGroup.type = "button";
  btnGroup.title = "collapse copies of the same kind on the same link within a second into one row (×n)";
  const jumpBtns = {};
  for (const m of JUMPS) {
    const b = html("button", `gk-jump gk-jump-${m}`, bar, `next ${m}`);
    b.type = "button";
    b.dataset.mark = m;
    b.title = `scroll to and select the next (older) row with a ${m === "err" ? "reported error" : `${m} copy`}`;
    jumpBtns[m] = b;
  }
  html("span", "gk-spring", bar);
  const countText = html("span", "gk-count", bar, "showing 0 of 0");
  countText.setAttribute("role", "status");

  const offError = errorBanner(model, root, null, () => bump());
  const body = html("div", "gk-flow-body", root);
  const main = html("div", "gk-flow-main", body);
  const scroller = html("div", "gk-scroller", main);
  scroller.tabIndex = 0;
  scroller.setAttribute("role", "region");
  scroller.setAttribute("aria-label", "messages, newest first");
  const head = html("div", "gk-lanes-head", scroller);
  const spacer = html("div", "gk-spacer", scroller);
  const lifeSvg = svg("svg", { class: "gk-lifelines", "aria-hidden": "true" }, spacer);
  lifeSvg.style.position = "absolute";
  lifeSvg.style.left = "0";
  lifeSvg.style.pointerEvents = "none";
  const gutter = svg("svg", { class: "gk-gutter", "aria-hidden": "true" }, spacer);
  const emptyMsg = html("div", "gk-empty", main, "no messages yet");
  const moreLeft = html("button", "gk-lanes-more gk-lanes-more-left", main);
  const moreRight = html("button", "gk-lanes-more gk-lanes-more-right", main);
  moreLeft.type = moreRight.type = "button";
  moreLeft.hidden = moreRight.hidden = true;
  const detail = html("div", "gk-detail", body);
  detail.setAttribute("aria-live", "polite");

  // ---------- state ----------
  let lanes = [];
  let count = 0;
  let base = 0;
  let total = 0;
  let kept = 0;
  let cap = 0;
  let follow = true;
  // While the pointer is over the rows, auto-scroll holds still (new rows arrive above, the
  // rows under the pointer stay put) so that a row can be clicked under heavy traffic.
  let pointing = false;
  let held = false; // pointing began at the newest rows: leaving goes back there
  let paused = false;
  let selected = "";
  let selReplyTo = null; // reply_to of the selected message, when known
  let relatedMids = new Set();
  let layout = null;
  let layoutVersion = 0;
  let virtTop = 0;
  let expectTop = 0;
  let viewportN = -1;
  let epoch = 0;
  let nextReq = Math.floor(Math.random() * 1e6) * 1000 + 1;
  let dead = false;
  let soulTimer = 0;
  let retryTimer = 0;
  let settleTimer = 0;
  let lastWindow = "";
  const cache = new Map(); // pos -> row
  const absent = new Set(); // positions asked for and not returned
  const pending = new Map(); // req -> {from, to, epoch, chunks, at}
  const pendingChunks = new Map(); // chunk -> req
  const rendered = new Map(); // pos -> {el, key, lv}
  let lastVisible = [0, 0];
  let colOf = new Map(); // directory lane number -> column
  let headH = HEAD_H;
  let sx = 0; // horizontal scroll offset
  let grouped = false;
  let members = null; // {pos, mid, rows} of the group shown in the detail pane
  let jumpReq = 0;

  const bump = () => {
    root.dataset.updates = String((+root.dataset.updates || 0) + 1);
  };

  // ---------- geometry ----------
  function viewH() {
    const ch = scroller.clientHeight;
    return Math.max(ROW_H, ch > headH ? ch - headH : (+model.get("height") || 460) - 100);
  }
  function fullH() {
    return count * ROW_H;
  }
  function spacerH() {
    return Math.min(fullH(), MAX_SPACER);
  }
  function scaled() {
    return fullH() > MAX_SPACER;
  }
  function virtMax() {
    return Math.max(0, fullH() - viewH());
  }
  function scrollMax() {
    return Math.max(0, spacerH() - viewH());
  }
  function scrollFor(virt) {
    if (!scaled()) return virt;
    const vm = virtMax();
    return vm > 0 ? (virt * scrollMax()) / vm : 0;
  }
  function virtFor(s) {
    if (!scaled()) return s;
    const sm = scrollMax();
    return sm > 0 ? (s * virtMax()) / sm : 0;
  }
  function setScroll() {
    virtTop = clamp(virtTop, 0, virtMax());
    spacer.style.height = `${spacerH()}px`;
    const s = Math.round(scrollFor(virtTop));
    if (Math.abs(scroller.scrollTop - s) >= 1) scroller.scrollTop = s;
    expectTop = scroller.scrollTop;
    // below the cap the browser's offset is the truth (it may have clamped or rounded it)
    if (!scaled() && scroller.clientHeight > 0) virtTop = clamp(expectTop, 0, virtMax());
  }
  function yFor(k) {
    return scaled() ? scroller.scrollTop + (k * ROW_H - virtTop) : k * ROW_H;
  }

  function computeLayout() {
    const avail = Math.max(200, scroller.clientWidth || root.clientWidth || 800);
    const n = Math.max(1, lanes.length);
    const room = (textW) => Math.floor((avail - TIME_W - GUTTER_W - textW) / n);
    let textW = PREF_TEXT_W;
    let laneW = room(textW);
    if (laneW < COMFY_LANE_W) laneW = room((textW = MIN_TEXT_W)); // the message column gives way first
    laneW = clamp(laneW, MIN_LANE_W, 150);
    const lanesW = laneW * n;
    const overflow = TIME_W + lanesW + GUTTER_W + textW > avail;
    if (!overflow) textW = Math.max(textW, avail - TIME_W - lanesW - GUTTER_W - 2);
    // overflow: the gutter and the message column are pinned at the right of the viewport
    const gutterX = overflow ? avail - textW - GUTTER_W : TIME_W + lanesW;
    const textX = gutterX + GUTTER_W;
    const width = overflow ? TIME_W + lanesW + GUTTER_W + textW : textX + textW;
    const stagger = laneW < COMFY_LANE_W && lanes.length > 1;
    const sig = lanes.map((l) => `${l.id}\u0001${l.label}\u0001${l.lane}`).join("\u0002");
    const key = `${laneW}|${n}|${width}|${avail}|${sig}`;
    if (layout && layout.key === key) return false;
    layout = { laneW, lanesW, gutterX, textX, textW, width, n, key, overflow, avail };
    layoutVersion++;
    colOf = new Map(lanes.map((l, i) => [Number.isInteger(+l.lane) && l.lane !== null ? +l.lane : i, i]));
    root.classList.toggle("gk-overflow", overflow);
    headH = stagger ? HEAD_H2 : HEAD_H;
    spacer.style.width = `${width}px`;
    head.style.width = `${width}px`;
    head.style.height = `${headH}px`;
    // lane header
    head.textContent = "";
    lanes.forEach((l, i) => {
      const d = html("div", "gk-lane-label", head);
      const w = stagger ? Math.min(2 * laneW, 140) : laneW;
      d.style.left = `${laneX(i) - w / 2}px`;
      d.style.width = `${w}px`;
      if (stagger) d.style.top = `${(i % 2) * 14}px`;
      d.textContent = String(l.label ?? l.id);
      d.title = `${l.label ?? ""} ${l.id ?? ""}`.trim();
      d.dataset.lane = String(i);
    });
    const th = html("div", "gk-col-head gk-pin", head, "t (s)");
    th.style.left = "0";
    th.style.width = `${TIME_W}px`;
    th.style.height = `${headH}px`;
    th.style.textAlign = "right";
    const mh = html("div", "gk-col-head gk-pin gk-col-message", head, "message");
    mh.style.left = `${textX}px`;
    mh.style.width = `${textW}px`;
    mh.style.height = `${headH}px`;
    // lifelines
    lifeSvg.textContent = "";
    lifeSvg.setAttribute("width", String(TIME_W + lanesW));
    for (let i = 0; i < lanes.length; i++) {
      const x = laneX(i);
      svg("line", { class: "gk-lifeline", x1: x, x2: x, y1: 0, y2: 0 }, lifeSvg);
    }
    gutter.setAttribute("width", String(GUTTER_W));
    gutter.style.left = `${gutterX}px`;
    gutter.classList.toggle("gk-pin", overflow);
    syncSideways();
    return true;
  }
  function laneX(i) {
    return TIME_W + layout.laneW * (i + 0.5);
  }
  function col(lane) {
    const c = colOf.get(+lane);
    return c === undefined ? -1 : c;
  }
  // The horizontal offset: pinned columns follow it; the cues count the lanes out of sight.
  function syncSideways() {
    sx = scroller.scrollLeft;
    const v = `${sx}px`;
    if (spacer.style.getPropertyValue("--gk-sx") !== v) {
      spacer.style.setProperty("--gk-sx", v);
      head.style.setProperty("--gk-sx", v);
    }
    if (!layout) return;
    let left = 0;
    let right = 0;
    if (layout.overflow) {
      for (let i = 0; i < lanes.length; i++) {
        const x = laneX(i) - sx;
        if (x < TIME_W + 4) left++;
        else if (x > layout.gutterX - 4) right++;
      }
    }
    const cue = (b, k, text, x) => {
      b.hidden = k === 0;
      b.dataset.n = String(k);
      if (k && b.textContent !== text) b.textContent = text;
      b.style.left = `${x}px`;
    };
    cue(moreLeft, left, `← ${left} more lane${left === 1 ? "" : "s"}`, TIME_W + 2);
    cue(moreRight, right, `${right} more lane${right === 1 ? "" : "s"} →`, layout.gutterX - 2);
  }
  function scrollLanes(dir) {
    const hidden = dir > 0 ? +moreRight.dataset.n || 0 : +moreLeft.dataset.n || 0;
    scroller.scrollLeft += dir * Math.max(1, hidden) * layout.laneW;
    syncSideways();
  }

  // ---------- row drawing ----------
  function rowKey(r) {
    return r.join("\u0001");
  }
  function drawArrow(s, r) {
    const src = col(r[2]);
    const dst = col(r[3]);
    const mark = MARKS.includes(r[7]) ? r[7] : "sent";
    const color = kindColor(r[4]);
    const dc = r[8] === "dc";
    const y = 11;
    const stub = Math.min(48, layout.laneW * 0.55);
    let x1;
    let x2;
    let ghost = null;
    if (src < 0 && dst < 0) {
      x1 = TIME_W + 4;
      x2 = TIME_W + 4 + stub;
      ghost = x1;
    } else if (src < 0) {
      x2 = laneX(dst);
      x1 = dst > 0 ? x2 - stub : x2 + stub;
      ghost = x1;
    } else if (dst < 0) {
      x1 = laneX(src);
      x2 = src < lanes.length - 1 ? x1 + stub : x1 - stub;
      ghost = x2;
    } else {
      x1 = laneX(src);
      x2 = laneX(dst);
    }
    const lineAttrs = (a, b) => ({ class: `gk-arrow${dc ? " gk-dc" : ""}`, x1: a, y1: y, x2: b, y2: y, stroke: color });
    if (x1 === x2) {
      // a message to itself: a small loop right of the lifeline
      svg("path", { class: `gk-arrow${dc ? " gk-dc" : ""}`, d: `M${x1} 5 h16 v12 h-12`, stroke: color }, s);
      x1 = x2 + 16;
    }
    const dir = x2 >= x1 ? 1 : -1;
    const head = (filled, cls) => {
      const tip = x2 - dir * 1;
      const back = tip - dir * 8;
      if (filled) return svg("polygon", { class: cls, points: `${tip},${y} ${back},${y - 4.5} ${back},${y + 4.5}`, fill: color });
      return svg("polyline", { class: cls, points: `${back},${y - 4.5} ${tip},${y} ${back},${y + 4.5}`, stroke: color });
    };
    if (mark === "heard") {
      svg("line", lineAttrs(x1, x2 - dir * 8), s);
      const h = head(true, "gk-mark gk-mark-heard gk-mark-head-filled");
      s.appendChild(h);
    } else if (mark === "heard-only") {
      svg("line", lineAttrs(x1, x2 - dir * 8), s);
      const g = svg("g", { class: "gk-mark gk-mark-heard-only" }, s);
      g.appendChild(head(true, "gk-mark-head-filled"));
      svg("circle", { class: "gk-ghost", cx: x1, cy: y, r: 3.5, stroke: color }, g);
    } else if (mark === "dup") {
      svg("line", lineAttrs(x1, x2 - dir * 6), s);
      const g = svg("g", { class: "gk-mark gk-mark-dup" }, s);
      svg("circle", { cx: x2, cy: y, r: 5.5, stroke: color }, g);
      svg("line", { x1: x2 - 4, y1: y + 4, x2: x2 + 4, y2: y - 4, stroke: color }, g);
    } else if (mark === "lost") {
      // on the sender's side, just off its lane: never on a third peer's lifeline
      const off = Math.min(LOST_OFF, Math.abs(x2 - x1) / 2, layout.laneW * 0.4);
      const xm = x1 + dir * off;
      svg("line", lineAttrs(x1, xm), s);
      svg("line", { class: "gk-arrow-rest", x1: xm, y1: y, x2: x2, y2: y, stroke: color }, s);
      const g = svg("g", { class: "gk-mark gk-mark-lost", "data-x": xm.toFixed(1) }, s);
      svg("line", { x1: xm - 4.5, y1: y - 4.5, x2: xm + 4.5, y2: y + 4.5 }, g);
      svg("line", { x1: xm - 4.5, y1: y + 4.5, x2: xm + 4.5, y2: y - 4.5 }, g);
    } else if (mark === "refused") {
      // it reached the receiver, which turned it back: a bar across the line at its lane
      svg("line", lineAttrs(x1, x2 - dir * 3), s);
      const g = svg("g", { class: "gk-mark gk-mark-refused" }, s);
      svg("line", { x1: x2 - dir * 2, y1: y - 6, x2: x2 - dir * 2, y2: y + 6 }, g);
      svg("line", { x1: x2 - dir * 2, y1: y, x2: x2 - dir * 8, y2: y }, g);
    } else if (mark === "untraced") {
      // handed over, then nobody tells: the line fades to dots, a "?" where it would arrive
      const xm = (x1 + x2) / 2;
      svg("line", lineAttrs(x1, xm), s);
      svg("line", { class: "gk-arrow-rest", x1: xm, y1: y, x2: x2 - dir * 6, y2: y, stroke: color }, s);
      const g = svg("g", { class: "gk-mark gk-mark-untraced" }, s);
      svg("text", { x: x2, y: y + 4, "text-anchor": "middle" }, g).textContent = "?";
    } else if (mark === "answered") {
      // arrived, proven by the answer: a filled head and a small hook turning back
      svg("line", lineAttrs(x1, x2 - dir * 8), s);
      const g = svg("g", { class: "gk-mark gk-mark-answered" }, s);
      g.appendChild(head(true, "gk-mark-head-filled"));
      svg("path", { d: `M${x2 - dir * 4} ${y + 4} q0 5 ${-dir * 6} 5 h${-dir * 4}`, stroke: color }, g);
    } else if (mark === "queued") {
      // still at the sender: a pause sign just off its lane, the way ahead dotted
      const off = Math.min(LOST_OFF, Math.abs(x2 - x1) / 2, layout.laneW * 0.4);
      const xm = x1 + dir * off;
      svg("line", lineAttrs(x1, xm - dir * 3), s);
      svg("line", { class: "gk-arrow-rest", x1: xm + dir * 4, y1: y, x2: x2, y2: y, stroke: color }, s);
      const g = svg("g", { class: "gk-mark gk-mark-queued", "data-x": xm.toFixed(1) }, s);
      svg("rect", { x: xm - 3.5, y: y - 5, width: 2.6, height: 10 }, g);
      svg("rect", { x: xm + 0.9, y: y - 5, width: 2.6, height: 10 }, g);
    } else {
      svg("line", lineAttrs(x1, x2 - dir * 1), s);
      s.appendChild(head(false, "gk-mark gk-mark-sent gk-mark-head-open"));
    }
    if (ghost !== null && mark !== "heard-only") svg("circle", { class: "gk-ghost", cx: ghost, cy: y, r: 3, stroke: color }, s);
  }
  function buildRow(pos, r, state) {
    const e = html("div", "gk-row");
    e.dataset.pos = String(pos);
    e.style.width = `${layout.width}px`;
    if (!r) {
      e.classList.add("gk-pending");
      const t = html("span", `gk-text gk-muted${layout.overflow ? " gk-pin" : ""}`, e, state === "absent" ? "(no longer kept)" : "…");
      t.style.left = `${layout.textX}px`;
      t.style.width = `${layout.textW}px`;
      return e;
    }
    const mark = String(r[7] || "sent");
    const n = Math.max(1, +r[10] || 1);
    e.dataset.mid = String(r[6] ?? "");
    e.dataset.mark = mark;
    e.dataset.kind = String(r[4] ?? "");
    if (n > 1) e.dataset.n = String(n);
    if (+r[12]) e.dataset.err = "1";
    if (r[9]) e.dataset.replyTo = String(r[9]);
    const s = svg("svg", { width: TIME_W + layout.lanesW + 2, height: ROW_H }, e);
    drawArrow(s, r);
    const t = html("span", "gk-t gk-pin", e, fmtT(r[1]));
    t.style.width = `${TIME_W}px`;
    const tx = html("span", `gk-text${layout.overflow ? " gk-pin" : ""}`, e);
    tx.style.left = `${layout.textX}px`;
    tx.style.width = `${layout.textW}px`;
    if (n > 1) html("span", "gk-times", tx, `×${n}`).title = `${n} copies: ${r[11] || mark} (click to list them)`;
    if (+r[12]) html("span", "gk-errmark", tx, "!").title = "the trace reports an error about this message";
    html("span", `gk-kind ${kindClass(r[4])}`, tx, String(r[4] ?? ""));
    if (!["heard", "sent", "heard-only"].includes(mark)) html("span", "gk-markname", tx, mark);
    if (r[5]) html("span", "gk-label", tx, String(r[5]));
    if (r[6]) html("span", "gk-mid", tx, `#${r[6]}`);
    const src = lanes[col(r[2])];
    const dst = lanes[col(r[3])];
    const what = n > 1 ? ` · ×${n}: ${r[11] || mark}` : ` · ${mark}`;
    e.title = `${src ? src.label : "?"} → ${dst ? dst.label : "?"} · ${r[4]}${what}${r[8] ? ` · ${r[8]}` : ""}`;
    return e;
  }
  function rowClass(r) {
    let c = "gk-row";
    if (!r) return "gk-row gk-pending";
    const mid = String(r[6] ?? "");
    const rt = String(r[9] ?? "");
    if (selected) {
      if (mid === selected) c += " gk-selected gk-related";
      else if ((rt && rt === selected) || (selReplyTo && mid === selReplyTo) || relatedMids.has(mid)) c += " gk-related";
    }
    return c;
  }

  // ---------- the window onto the rows ----------
  function visibleRange() {
    const vh = viewH();
    const k0 = Math.floor(virtTop / ROW_H);
    const k1 = Math.min(count, Math.ceil((virtTop + vh) / ROW_H));
    return [clamp(k0, 0, count), clamp(k1, 0, count)];
  }
  function draw() {
    if (dead) return;
    if (!layout) computeLayout();
    const end = base + count;
    const [v0, v1] = visibleRange();
    lastVisible = [v0, v1];
    const ka = Math.max(0, v0 - OVERSCAN);
    const kb = Math.min(count, v1 + OVERSCAN);
    const keep = new Set();
    const frag = document.createDocumentFragment();
    const yA = yFor(ka);
    for (let k = ka; k < kb; k++) {
      const pos = end - 1 - k;
      keep.add(pos);
      const r = cache.get(pos);
      const key = r ? rowKey(r) : absent.has(pos) ? "absent" : "pending";
      let rec = rendered.get(pos);
      if (!rec || rec.key !== key || rec.lv !== layoutVersion) {
        const e = buildRow(pos, r, key);
        if (rec) rec.el.replaceWith(e);
        else frag.appendChild(e);
        rec = { el: e, key, lv: layoutVersion, cls: "" };
        rendered.set(pos, rec);
      }
      const cls = rowClass(r);
      if (rec.cls !== cls) {
        rec.el.className = cls;
        rec.cls = cls;
      }
      const y = `${yA + (k - ka) * ROW_H}px`;
      if (rec.el.style.top !== y) rec.el.style.top = y;
    }
    for (const [pos, rec] of rendered) {
      if (!keep.has(pos)) {
        rec.el.remove();
        rendered.delete(pos);
      }
    }
    if (frag.childNodes.length) spacer.appendChild(frag);
    // lifelines behind the drawn rows
    const hh = (kb - ka) * ROW_H;
    lifeSvg.style.top = `${yA}px`;
    lifeSvg.setAttribute("height", String(Math.max(0, hh)));
    for (const l of lifeSvg.children) l.setAttribute("y2", String(hh));
    drawConnectors(ka, kb, yA);
    emptyMsg.hidden = count > 0;
    const et = total > 0 ? "no messages match the filters" : "no messages yet";
    if (emptyMsg.textContent !== et) emptyMsg.textContent = et;
    updateCount(v0, v1);
    ensureRows(ka, kb);
  }
  function drawConnectors(ka, kb, yA) {
    gutter.textContent = "";
    gutter.style.top = `${yA}px`;
    gutter.setAttribute("height", String(Math.max(0, (kb - ka) * ROW_H)));
    if (!selected) return;
    const end = base + count;
    const qs = [selected];
    if (selReplyTo && selReplyTo !== selected) qs.push(selReplyTo);
    for (const q of qs) {
      const reqYs = [];
      const repYs = [];
      for (let k = ka; k < kb; k++) {
        const r = cache.get(end - 1 - k);
        if (!r) continue;
        const y = (k - ka) * ROW_H + ROW_H / 2;
        if (String(r[6]) === q) reqYs.push(y);
        else if (String(r[9] || "") === q) repYs.push(y);
      }
      if (!reqYs.length || !repYs.length) continue;
      const all = reqYs.concat(repYs);
      const top = Math.min(...all);
      const bot = Math.max(...all);
      const x = GUTTER_W - 8;
      let d = `M${x} ${top} V${bot}`;
      for (const y of all) d += ` M1 ${y} H${x}`;
      svg("path", { class: "gk-connector", d, "data-request": q }, gutter);
      for (const y of reqYs) svg("circle", { class: "gk-connector-dot", cx: x, cy: y, r: 3 }, gutter);
      for (const y of repYs) svg("polygon", { class: "gk-connector-dot", points: `1,${y} 6,${y - 3.5} 6,${y + 3.5}` }, gutter);
    }
  }
  function updateCount(v0, v1) {
    const shown = count ? `showing ${fmtInt(v0 + 1)}–${fmtInt(Math.max(v0 + 1, v1))} of ${fmtInt(count)}` : "showing 0 of 0";
    const hold = paused ? " · paused" : held && virtTop >= ROW_H / 2 ? " · held while pointing" : "";
    const txt = `${shown} (${fmtInt(total)} recorded; ${fmtInt(kept)} kept)${hold}`;
    if (countText.textContent !== txt) countText.textContent = txt;
    const tip = cap ? `the model keeps at most ${fmtInt(cap)} rows` : "";
    if (countText.title !== tip) countText.title = tip;
  }

  // ---------- requests ----------
  function chunkNeeds(c, end) {
    const a = Math.max(base, c * CHUNK);
    const b = Math.min(end, (c + 1) * CHUNK);
    for (let p = a; p < b; p++) if (!cache.has(p) && !absent.has(p)) return true;
    return false;
  }
  function ensureRows(ka, kb) {
    if (!count || kb <= ka) return;
    const now = performance.now();
    for (const [req, p] of pending) {
      if (now - p.at > PENDING_MS) {
        pending.delete(req);
        for (const c of p.chunks) if (pendingChunks.get(c) === req) pendingChunks.delete(c);
      }
    }
    const end = base + count;
    const lo = end - kb;
    const hi = end - ka; // exclusive
    const c0 = Math.floor(lo / CHUNK);
    const c1 = Math.floor((hi - 1) / CHUNK);
    let run = [];
    const flush = () => {
      if (!run.length) return;
      const from = Math.max(base, Math.min(...run) * CHUNK);
      const to = Math.min(end, (Math.max(...run) + 1) * CHUNK);
      const req = nextReq++;
      pending.set(req, { from, to, epoch, chunks: run, at: now });
      for (const c of run) pendingChunks.set(c, req);
      model.send({ type: "rows", req, from, to });
      run = [];
      // an unanswered request expires after PENDING_MS: look again then
      if (!retryTimer) retryTimer = setTimeout(() => ((retryTimer = 0), draw()), PENDING_MS + 50);
    };
    for (let c = c1; c >= c0; c--) {
      // newest first: the rows at the top of the view are asked for first
      if (!pendingChunks.has(c) && chunkNeeds(c, end)) {
        if (run.length && (run[run.length - 1] !== c + 1 || run.length >= MAX_RUN)) flush();
        run.push(c);
      } else flush();
    }
    flush();
  }
  // Once scrolling settles away from the newest rows, ask for exactly the rows on screen:
  // it refreshes them and tells Python which range to keep up to date in its ticks (rows
  // whose mark changed), since with auto-scroll it only sends the newest.
  function scheduleWindow() {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(sendWindow, SETTLE_MS);
  }
  function sendWindow() {
    settleTimer = 0;
    if (dead || !count || (follow && virtTop < ROW_H / 2)) return;
    const end = base + count;
    const [v0, v1] = visibleRange();
    const from = Math.max(base, end - Math.min(count, v1 + OVERSCAN));
    const to = end - Math.max(0, v0 - OVERSCAN);
    const key = `${epoch}:${from}:${to}`;
    if (to <= from || key === lastWindow) return;
    lastWindow = key;
    const req = nextReq++;
    pending.set(req, { from, to, epoch, chunks: [], at: performance.now() });
    model.send({ type: "rows", req, from, to });
  }
  function addRows(rows) {
    if (!Array.isArray(rows)) return 0;
    let n = 0;
    for (const r of rows) {
      if (!Array.isArray(r) || !Number.isFinite(+r[0])) continue;
      const pos = +r[0];
      cache.set(pos, r);
      absent.delete(pos);
      if (selected && !selReplyTo && String(r[6]) === selected && r[9]) selReplyTo = String(r[9]);
      n++;
    }
    return n;
  }
  function trimCache() {
    for (const p of cache.keys()) if (p < base) cache.delete(p);
    for (const p of absent) if (p < base) absent.delete(p);
    if (absent.size > 50000) absent.clear();
    if (cache.size <= CACHE_MAX) return;
    const end = base + count;
    const centre = end - 1 - (lastVisible[0] + lastVisible[1]) / 2;
    const keys = [...cache.keys()].sort((a, b) => Math.abs(a - centre) - Math.abs(b - centre));
    for (let i = Math.floor(CACHE_MAX * 0.75); i < keys.length; i++) cache.delete(keys[i]);
  }

  // ---------- counts & anchoring ----------
  function setCounts(c, b, tot, kp) {
    const cur = scroller.scrollTop;
    if (Math.abs(cur - expectTop) > 1) virtTop = clamp(virtFor(cur), 0, virtMax()); // a scroll not seen yet
    const atTop = virtTop < ROW_H / 2;
    const oldEnd = base + count;
    if (Number.isFinite(+c)) count = Math.max(0, Math.floor(+c));
    if (Number.isFinite(+b)) base = Math.max(0, Math.floor(+b));
    if (Number.isFinite(+tot)) total = +tot;
    if (Number.isFinite(+kp)) kept = +kp;
    const newEnd = base + count;
    if (follow && atTop && !pointing) virtTop = 0;
    else if (newEnd !== oldEnd) virtTop += (newEnd - oldEnd) * ROW_H; // stay on the same rows
    trimCache();
    setScroll();
  }

  // ---------- messages ----------
  function sendViewport(force) {
    const n = Math.max(1, Math.ceil(viewH() / ROW_H));
    if (force || n !== viewportN) {
      viewportN = n;
      model.send({ type: "viewport", n });
    }
  }
  function dropAll() {
    epoch++;
    cache.clear();
    absent.clear();
    pending.clear();
    pendingChunks.clear();
    for (const rec of rendered.values()) rec.el.remove();
    rendered.clear();
  }
  function onMsg(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "tick") {
      addRows(msg.rows);
      setCounts(msg.count, msg.base, msg.total, msg.kept);
      draw();
      bump();
    } else if (msg.type === "rows") {
      const p = pending.get(msg.req);
      if (!p) return;
      pending.delete(msg.req);
      for (const c of p.chunks) if (pendingChunks.get(c) === msg.req) pendingChunks.delete(c);
      if (p.epoch !== epoch) return;
      addRows(msg.rows);
      for (let pos = p.from; pos < p.to; pos++) if (!cache.has(pos) && pos >= base) absent.add(pos);
      trimCache();
      draw();
      bump();
    } else if (msg.type === "found") {
      if (msg.req !== jumpReq) return;
      for (const b of Object.values(jumpBtns)) b.disabled = false;
      if (!Array.isArray(msg.row) || !Number.isFinite(+msg.pos)) {
        countText.dataset.jump = "none";
        countText.textContent = `no ${msg.mark || "such"} row`;
        bump();
        return;
      }
      addRows([msg.row]);
      jumpTo(+msg.pos, String(msg.row[6] ?? ""), msg.row);
      bump();
    } else if (msg.type === "members") {
      if (!members || msg.req !== members.req) return;
      members.rows = Array.isArray(msg.rows) ? msg.rows : [];
      drawDetail();
      bump();
    } else if (msg.type === "reset") {
      dropAll();
      // a new sequence: positions mean other rows now, so start again at the newest
      count = Math.max(0, Math.floor(+msg.count || 0));
      base = Math.max(0, Math.floor(+msg.base || 0));
      if (Number.isFinite(+msg.total)) total = +msg.total;
      if (Number.isFinite(+msg.kept)) kept = +msg.kept;
      virtTop = 0;
      setScroll();
      draw();
      bump();
    }
  }

  // ---------- jumps: the next lost / dup / err row, asked of Python (it holds every row) ----------
  function jumpFrom() {
    // from the selected row when it is on screen, else from the top of the view
    const end = base + count;
    if (selected) {
      for (const [pos, rec] of rendered) {
        if (rec.el.dataset.mid === selected && pos >= end - lastVisible[1] && pos <= end - 1 - lastVisible[0]) return pos;
      }
    }
    return end - lastVisible[0];
  }
  function askJump(mark) {
    jumpReq = nextReq++;
    for (const b of Object.values(jumpBtns)) b.disabled = true;
    delete countText.dataset.jump;
    model.send({ type: "find", req: jumpReq, mark, from: jumpFrom() });
    // Python may be gone (a saved notebook): never leave the buttons disabled
    setTimeout(() => {
      for (const b of Object.values(jumpBtns)) b.disabled = false;
    }, PENDING_MS);
  }
  function jumpTo(pos, mid, row) {
    if (follow) {
      follow = false; // a jump is a place to look at: the traffic must not scroll it away
      model.set("follow", false);
      model.save_changes();
      syncToolbar();
    }
    const k = base + count - 1 - pos;
    virtTop = clamp(k * ROW_H - Math.floor(viewH() / 3), 0, virtMax());
    setScroll();
    if (mid) select(mid, row);
    else draw();
    sendWindow();
  }

  // ---------- toolbar ----------
  function filters() {
    const f = model.get("filters");
    return { ...DEFAULT_FILTERS, ...(f && typeof f === "object" ? f : {}) };
  }
  function setFilter(key, value) {
    const f = filters();
    if (JSON.stringify(f[key]) === JSON.stringify(value)) return;
    f[key] = value;
    model.set("filters", f);
    model.save_changes();
  }
  function fillSelect(s, items, current) {
    const want = [["", "all"], ...items];
    if (current && !want.some(([v]) => v === current)) want.push([current, current]);
    const sig = JSON.stringify(want);
    if (s.dataset.sig !== sig) {
      s.textContent = "";
      for (const [v, t] of want) {
        const o = html("option", "", s, t);
        o.value = v;
      }
      s.dataset.sig = sig;
    }
    if (s.value !== current) s.value = current;
  }
  function syncToolbar() {
    const f = filters();
    fillSelect(selPeer, lanes.map((l) => [String(l.id), String(l.label ?? l.id)]), String(f.peer || ""));
    const kinds = Array.isArray(model.get("kinds")) ? model.get("kinds") : [];
    fillSelect(selKind, kinds.map((k) => [String(k), String(k)]), String(f.kind || ""));
    if (document.activeElement !== inSoul && inSoul.value !== String(f.soul || "")) inSoul.value = String(f.soul || "");
    if (selTransport.value !== String(f.transport || "")) selTransport.value = String(f.transport || "");
    inHide.checked = !!f.hide_signaling;
    const pair = Array.isArray(f.pair) ? f.pair : [];
    if (pair.length === 2) {
      const name = (id) => {
        const l = lanes.find((x) => String(x.id) === String(id));
        return l ? String(l.label ?? id) : String(id);
      };
      pairText.textContent = `link: ${name(pair[0])} ↔ ${name(pair[1])}`;
      pairChip.hidden = false;
    } else pairChip.hidden = true;
    btnPause.textContent = paused ? "resume" : "pause";
    btnPause.setAttribute("aria-pressed", String(paused));
    btnFollow.setAttribute("aria-pressed", String(follow));
    btnGroup.setAttribute("aria-pressed", String(grouped));
  }
  const onPeer = () => setFilter("peer", selPeer.value);
  const onKind = () => setFilter("kind", selKind.value);
  const onTransport = () => setFilter("transport", selTransport.value);
  const onHide = () => setFilter("hide_signaling", inHide.checked);
  const onSoulInput = () => {
    clearTimeout(soulTimer);
    soulTimer = setTimeout(() => setFilter("soul", inSoul.value.trim()), 300);
  };
  const onSoulChange = () => {
    clearTimeout(soulTimer);
    setFilter("soul", inSoul.value.trim());
  };
  const onPairClear = () => setFilter("pair", []);
  const onPause = () => {
    paused = !paused;
    model.set("paused", paused);
    model.save_changes();
    syncToolbar();
    updateCount(...lastVisible);
  };
  const onGroup = () => {
    grouped = !grouped;
    model.set("group", grouped);
    model.save_changes();
    syncToolbar();
  };
  const onJump = (ev) => askJump(ev.currentTarget.dataset.mark);
  const onMoreLeft = () => scrollLanes(-1);
  const onMoreRight = () => scrollLanes(1);
  const onFollow = () => {
    follow = !follow;
    model.set("follow", follow);
    model.save_changes();
    if (follow) {
      virtTop = 0;
      setScroll();
      draw();
    } else sendWindow();
    syncToolbar();
  };

  // ---------- selection & detail ----------
  function findReplyTo(mid) {
    for (const r of cache.values()) if (String(r[6]) === mid && r[9]) return String(r[9]);
    return null;
  }
  function applySelection() {
    selected = String(model.get("selected") || "");
    if (!selected) members = null;
    selReplyTo = selected ? findReplyTo(selected) : null;
    const d = model.get("detail");
    relatedMids = new Set(d && String(d.mid) === selected && Array.isArray(d.related) ? d.related.map(String) : []);
    for (const rec of rendered.values()) rec.cls = ""; // re-class on the next draw
    drawDetail();
  }
  function select(mid, row) {
    if (!mid) return;
    members = null;
    if (row && +row[10] > 1) {
      // a group: list its copies in the detail pane
      members = { req: nextReq++, pos: +row[0], n: +row[10], summary: String(row[11] || ""), rows: null };
      model.send({ type: "members", req: members.req, pos: members.pos });
    }
    model.set("selected", mid);
    model.save_changes();
    applySelection();
    draw();
  }
  function drawDetail() {
    detail.textContent = "";
    root.classList.toggle("gk-has-selection", !!selected);
    if (!selected) {
      html("div", "gk-note", detail, "Click a message to see its hops, replies and fate.");
      const lg = html("div", "gk-flow-legend", detail);
      lg.style.flexWrap = "wrap";
      lg.style.marginTop = "8px";
      for (const m of MARKS) {
        const it = html("span", "gk-legend-item", lg);
        it.dataset.mark = m;
        it.title = MARK_MEANING[m];
        html("span", `gk-markicon gk-m-${m}`, it, MARK_ICON[m]);
        html("span", "", it, ` ${m}`);
      }
      return;
    }
    const d = model.get("detail");
    const h = html("h4", "", detail);
    html("span", "gk-mono", h, `#${selected}`);
    if (members) drawMembers();
    const close = html("button", "gk-clear-selection", h, "×");
    close.type = "button";
    close.setAttribute("aria-label", "clear the selection");
    close.style.marginLeft = "auto";
    close.addEventListener("click", () => {
      model.set("selected", "");
      model.save_changes();
      applySelection();
      draw();
    });
    if (!d || String(d.mid) !== selected) {
      html("div", "gk-note", detail, "loading…");
      return;
    }
    if (d.kind) h.insertBefore(html("span", `gk-kind ${kindClass(d.kind)}`, null, String(d.kind)), close);
    html("p", "gk-summary", detail, String(d.summary ?? ""));
    if (Array.isArray(d.fate) && d.fate.length) {
      html("h5", "", detail, "fate");
      const ol = html("ol", "gk-fate", detail);
      for (const f of d.fate) {
        const li = html("li", "", ol);
        const m = String(f.mark || "");
        li.dataset.mark = m;
        html("span", "gk-fate-t", li, Number.isFinite(+f.t) ? `+${(+f.t).toFixed(3)}` : "");
        html("span", `gk-markicon gk-m-${m}`, li, MARK_ICON[m] || "·").title = MARK_MEANING[m] || m;
        html("span", "", li, String(f.text ?? ""));
      }
    }
    if (d.json != null) {
      html("h5", "", detail, "message");
      let text = String(d.json);
      try {
        text = JSON.stringify(JSON.parse(text), null, 2);
      } catch (_) {
        /* shown as sent */
      }
      html("pre", "gk-json", detail, text);
    }
  }
  function drawMembers() {
    const box = html("div", "gk-group-box", detail);
    html("h5", "", box, `${members.n} copies${members.summary ? `: ${members.summary}` : ""}`);
    if (!members.rows) {
      html("div", "gk-note", box, "loading…");
      return;
    }
    const ul = html("ul", "gk-members", box);
    for (const r of members.rows) {
      const src = lanes[col(r[2])];
      const dst = lanes[col(r[3])];
      const li = html("li", "", ul);
      li.dataset.mid = String(r[6] ?? "");
      li.dataset.mark = String(r[7] ?? "");
      const m = String(r[7] || "");
      html("span", `gk-markicon gk-m-${m}`, li, MARK_ICON[m] || "·").title = MARK_MEANING[m] || m;
      html("span", "", li, ` ${fmtT(r[1])} ${src ? src.label : "?"} → ${dst ? dst.label : "?"} #${r[6]} ${m}`);
    }
  }
  const onRowClick = (ev) => {
    const row = ev.target.closest ? ev.target.closest(".gk-row") : null;
    if (row && row.dataset.mid) select(row.dataset.mid, cache.get(+row.dataset.pos));
  };
  const onDetailClick = (ev) => {
    const li = ev.target.closest ? ev.target.closest(".gk-members li") : null;
    if (!li || !li.dataset.mid) return;
    const keep = members;
    model.set("selected", li.dataset.mid);
    model.save_changes();
    applySelection();
    members = keep; // still the same group's list
    drawDetail();
    draw();
  };

  // ---------- scrolling ----------
  const onScroll = () => {
    if (scroller.scrollLeft !== sx) syncSideways();
    const s = scroller.scrollTop;
    if (Math.abs(s - expectTop) > 1) virtTop = clamp(virtFor(s), 0, virtMax());
    expectTop = s;
    draw();
    scheduleWindow();
  };
  const onWheel = (ev) => {
    held = false; // the user scrolls: they choose where to look now
    if (!scaled() || ev.ctrlKey) return; // native scrolling is exact below the cap
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? ROW_H : ev.deltaMode === 2 ? viewH() : 1;
    virtTop = clamp(virtTop + ev.deltaY * unit, 0, virtMax());
    if (ev.deltaX) scroller.scrollLeft += ev.deltaX * unit;
    setScroll();
    draw();
    scheduleWindow();
  };
  const onKey = (ev) => {
    if (ev.key !== "Escape") held = false;
    if (ev.key === "Escape" && selected) {
      model.set("selected", "");
      model.save_changes();
      applySelection();
      draw();
      return;
    }
    if (!scaled()) return;
    const page = viewH() - ROW_H;
    const step = { ArrowDown: ROW_H, ArrowUp: -ROW_H, PageDown: page, PageUp: -page, " ": page }[ev.key];
    if (ev.key === "Home") virtTop = 0;
    else if (ev.key === "End") virtTop = virtMax();
    else if (step !== undefined) virtTop += step;
    else return;
    ev.preventDefault();
    setScroll();
    draw();
    scheduleWindow();
  };

  // ---------- size ----------
  function onResize() {
    root.classList.toggle("gk-narrow", root.clientWidth > 0 && root.clientWidth < 760);
    computeLayout();
    setScroll();
    draw();
    sendViewport(false);
  }
  const ro = typeof ResizeObserver === "function" ? new ResizeObserver(() => onResize()) : null;
  if (ro) {
    ro.observe(root);
    ro.observe(scroller);
  }

  // ---------- traits ----------
  function onLanes() {
    lanes = Array.isArray(model.get("lanes")) ? model.get("lanes") : [];
    computeLayout();
    syncToolbar();
    draw();
  }
  function onCountTraits() {
    setCounts(model.get("count"), model.get("base"), model.get("total"), model.get("kept"));
    cap = +model.get("cap") || 0;
    draw();
  }
  function onWindow() {
    if (addRows(model.get("window"))) draw();
  }
  function onHeight() {
    root.style.height = `${+model.get("height") || 460}px`;
  }
  function onPausedTrait() {
    paused = !!model.get("paused");
    syncToolbar();
    updateCount(...lastVisible);
  }
  function onFollowTrait() {
    const f = model.get("follow");
    follow = f === undefined ? true : !!f;
    syncToolbar();
  }
  const traitHandlers = {
    "change:lanes": onLanes,
    "change:count": onCountTraits,
    "change:base": onCountTraits,
    "change:total": onCountTraits,
    "change:kept": onCountTraits,
    "change:cap": onCountTraits,
    "change:filters": syncToolbar,
    "change:kinds": syncToolbar,
    "change:selected": () => (applySelection(), draw()),
    "change:detail": () => (applySelection(), draw()),
    "change:paused": onPausedTrait,
    "change:follow": onFollowTrait,
    "change:group": () => ((grouped = !!model.get("group")), syncToolbar()),
    "change:window": onWindow,
    "change:height": () => (onHeight(), onResize()),
  };
  const counted = {};
  for (const k in traitHandlers) {
    counted[k] = (...a) => {
      traitHandlers[k](...a);
      bump();
    };
    model.on(k, counted[k]);
  }
  const onCustom = (msg) => onMsg(msg);
  model.on("msg:custom", onCustom);

  selPeer.addEventListener("change", onPeer);
  selKind.addEventListener("change", onKind);
  selTransport.addEventListener("change", onTransport);
  inHide.addEventListener("change", onHide);
  inSoul.addEventListener("input", onSoulInput);
  inSoul.addEventListener("change", onSoulChange);
  pairClear.addEventListener("click", onPairClear);
  btnPause.addEventListener("click", onPause);
  btnFollow.addEventListener("click", onFollow);
  btnGroup.addEventListener("click", onGroup);
  for (const b of Object.values(jumpBtns)) b.addEventListener("click", onJump);
  moreLeft.addEventListener("click", onMoreLeft);
  moreRight.addEventListener("click", onMoreRight);
  detail.addEventListener("click", onDetailClick);
  spacer.addEventListener("click", onRowClick);
  const onPointerEnter = () => {
    pointing = true;
    held = follow && virtTop < ROW_H / 2;
  };
  const onPointerLeave = () => {
    pointing = false;
    if (held && follow) {
      virtTop = 0; // back to the newest rows
      setScroll();
      draw();
    }
    held = false;
  };
  const onPointerDown = (ev) => {
    if (ev.offsetX >= scroller.clientWidth) held = false; // a drag on the scrollbar
  };
  scroller.addEventListener("pointerdown", onPointerDown);
  scroller.addEventListener("pointerenter", onPointerEnter);
  scroller.addEventListener("pointerleave", onPointerLeave);
  scroller.addEventListener("scroll", onScroll, { passive: true });
  scroller.addEventListener("wheel", onWheel, { passive: false });
  scroller.addEventListener("keydown", onKey);

  // ---------- first paint ----------
  onHeight();
  lanes = Array.isArray(model.get("lanes")) ? model.get("lanes") : [];
  paused = !!model.get("paused");
  grouped = !!model.get("group");
  onFollowTrait();
  count = Math.max(0, +model.get("count") || 0);
  base = Math.max(0, +model.get("base") || 0);
  total = +model.get("total") || 0;
  kept = +model.get("kept") || 0;
  cap = +model.get("cap") || 0;
  addRows(model.get("window"));
  computeLayout();
  syncToolbar();
  applySelection();
  setScroll();
  model.send({ type: "hello" });
  sendViewport(true);
  draw();

  return () => {
    dead = true;
    clearTimeout(soulTimer);
    clearTimeout(retryTimer);
    clearTimeout(settleTimer);
    for (const k in counted) model.off(k, counted[k]);
    model.off("msg:custom", onCustom);
    if (ro) ro.disconnect();
    scroller.removeEventListener("pointerdown", onPointerDown);
    scroller.removeEventListener("pointerenter", onPointerEnter);
    scroller.removeEventListener("pointerleave", onPointerLeave);
    selPeer.removeEventListener("change", onPeer);
    selKind.removeEventListener("change", onKind);
    selTransport.removeEventListener("change", onTransport);
    inHide.removeEventListener("change", onHide);
    inSoul.removeEventListener("input", onSoulInput);
    inSoul.removeEventListener("change", onSoulChange);
    pairClear.removeEventListener("click", onPairClear);
    btnPause.removeEventListener("click", onPause);
    btnFollow.removeEventListener("click", onFollow);
    btnGroup.removeEventListener("click", onGroup);
    for (const b of Object.values(jumpBtns)) b.removeEventListener("click", onJump);
    moreLeft.removeEventListener("click", onMoreLeft);
    moreRight.removeEventListener("click", onMoreRight);
    detail.removeEventListener("click", onDetailClick);
    spacer.removeEventListener("click", onRowClick);
    scroller.removeEventListener("scroll", onScroll);
    scroller.removeEventListener("wheel", onWheel);
    scroller.removeEventListener("keydown", onKey);
    offError();
    root.remove();
  };
}

export default { render };
