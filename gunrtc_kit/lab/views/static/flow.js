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
//
// Step mode: a copy held on its wire (mark "held") is drawn in flight, a token half way, the
// rest of the way dotted; its row's field 13 names the frame. In a Lab's view (`steppable`)
// a click on it opens the step menu (deliver / drop / duplicate, common.js stepMenu) too.

import { html, svg, fmtInt, viewRoot, bump, save, closest, lifetime, observeSize, errorBanner, kindColor, stepMenu } from "./common.js";

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
const MARKS = ["heard", "heard-only", "sent", "dup", "lost", "refused", "untraced", "answered", "queued", "held"];
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
  held: "◆",
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
  held: "in flight: held on its wire (step mode) until delivered or dropped by hand",
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

function kindClass(kind) {
  const k = String(kind || "");
  if (["put", "get", "ack", "reply"].includes(k)) return `gk-k-${k}`;
  if (k.startsWith("rtc")) return "gk-k-rtc";
  if (k.startsWith("dam")) return "gk-k-dam";
  return "gk-k-other";
}
const fmtT = (t) => (Number.isFinite(+t) ? (+t).toFixed(3) : "");
const clamp = (x, a, b) => (x < a ? a : x > b ? b : x);

// Everything one rendered flow view holds: its model, its lifetime (listeners, timers), its
// elements (filled in by buildToolbar / buildBody) and what it knows of the rows.
function newState(model) {
  return {
    model,
    life: lifetime(),
    lanes: [],
    count: 0,
    base: 0,
    total: 0,
    kept: 0,
    cap: 0,
    follow: true,
    // While the pointer is over the rows, auto-scroll holds still (new rows arrive above, the
    // rows under the pointer stay put) so that a row can be clicked under heavy traffic.
    pointing: false,
    held: false, // pointing began at the newest rows: leaving goes back there
    paused: false,
    selected: "",
    selReplyTo: null, // reply_to of the selected message, when known
    relatedMids: new Set(),
    layout: null,
    layoutVersion: 0,
    virtTop: 0,
    expectTop: 0,
    viewportN: -1,
    epoch: 0,
    nextReq: Math.floor(Math.random() * 1e6) * 1000 + 1,
    soulTimer: 0,
    retryTimer: 0,
    settleTimer: 0,
    lastWindow: "",
    cache: new Map(), // pos -> row
    absent: new Set(), // positions asked for and not returned
    pending: new Map(), // req -> {from, to, epoch, chunks, at}
    pendingChunks: new Map(), // chunk -> req
    rendered: new Map(), // pos -> {el, key, lv, cls}
    lastVisible: [0, 0],
    colOf: new Map(), // directory lane number -> column
    headH: HEAD_H,
    sx: 0, // horizontal scroll offset
    grouped: false,
    members: null, // {req, pos, n, summary, rows} of the group shown in the detail pane
    menu: null, // the step menu (stepMenu)
    jumpReq: 0,
  };
}

// ---------- DOM ----------
function buildToolbar(st) {
  const bar = html("div", "gk-toolbar", st.root);
  const mkSelect = (labelText, name) => {
    const lab = html("label", "", bar);
    html("span", "", lab, labelText);
    const s = html("select", `gk-filter-${name}`, lab);
    s.name = name;
    return s;
  };
  st.selPeer = mkSelect("peer", "peer");
  st.selKind = mkSelect("kind", "kind");
  const soulLab = html("label", "", bar);
  html("span", "", soulLab, "soul");
  const inSoul = (st.inSoul = html("input", "gk-filter-soul", soulLab));
  inSoul.type = "text";
  inSoul.name = "soul";
  inSoul.placeholder = "soul…";
  inSoul.spellcheck = false;
  st.selTransport = mkSelect("transport", "transport");
  for (const [v, t] of [["", "all"], ["ws", "ws"], ["dc", "dc"], ["memory", "memory"]]) {
    const o = html("option", "", st.selTransport, t);
    o.value = v;
  }
  const hideLab = html("label", "", bar);
  st.inHide = html("input", "gk-filter-hide", hideLab);
  st.inHide.type = "checkbox";
  st.inHide.name = "hide_signaling";
  html("span", "", hideLab, "hide discovery/signalling");
  buildToolbarButtons(st, bar);
}
function buildToolbarButtons(st, bar) {
  const button = (cls, text, title) => {
    const b = html("button", cls, bar, text);
    b.type = "button";
    if (title) b.title = title;
    return b;
  };
  st.pairChip = html("span", "gk-pair-chip gk-chip", bar);
  st.pairText = html("span", "", st.pairChip);
  st.pairClear = html("button", "gk-pair-clear", st.pairChip, "×");
  st.pairClear.type = "button";
  st.pairClear.setAttribute("aria-label", "clear the link filter");
  st.pairChip.hidden = true;
  st.btnPause = button("gk-pause", "pause");
  st.btnFollow = button("gk-follow", "auto-scroll", "keep the newest messages in view");
  st.btnGroup = button("gk-group", "group repeats", "collapse copies of the same kind on the same link within a second into one row (×n)");
  st.jumpBtns = {};
  for (const m of JUMPS) {
    const what = m === "err" ? "reported error" : `${m} copy`;
    const b = button(`gk-jump gk-jump-${m}`, `next ${m}`, `scroll to and select the next (older) row with a ${what}`);
    b.dataset.mark = m;
    st.jumpBtns[m] = b;
  }
  html("span", "gk-spring", bar);
  st.countText = html("span", "gk-count", bar, "showing 0 of 0");
  st.countText.setAttribute("role", "status");
}
function buildBody(st) {
  const body = html("div", "gk-flow-body", st.root);
  const main = (st.main = html("div", "gk-flow-main", body));
  const scroller = (st.scroller = html("div", "gk-scroller", main));
  scroller.tabIndex = 0;
  scroller.setAttribute("role", "region");
  scroller.setAttribute("aria-label", "messages, newest first");
  st.head = html("div", "gk-lanes-head", scroller);
  st.spacer = html("div", "gk-spacer", scroller);
  const lifeSvg = (st.lifeSvg = svg("svg", { class: "gk-lifelines", "aria-hidden": "true" }, st.spacer));
  lifeSvg.style.position = "absolute";
  lifeSvg.style.left = "0";
  lifeSvg.style.pointerEvents = "none";
  st.gutter = svg("svg", { class: "gk-gutter", "aria-hidden": "true" }, st.spacer);
  st.emptyMsg = html("div", "gk-empty", main, "no messages yet");
  st.moreLeft = html("button", "gk-lanes-more gk-lanes-more-left", main);
  st.moreRight = html("button", "gk-lanes-more gk-lanes-more-right", main);
  st.moreLeft.type = st.moreRight.type = "button";
  st.moreLeft.hidden = st.moreRight.hidden = true;
  st.detail = html("div", "gk-detail", body);
  st.detail.setAttribute("aria-live", "polite");
}

// ---------- geometry ----------
function viewH(st) {
  const ch = st.scroller.clientHeight;
  return Math.max(ROW_H, ch > st.headH ? ch - st.headH : (+st.model.get("height") || 460) - 100);
}
const fullH = (st) => st.count * ROW_H;
const spacerH = (st) => Math.min(fullH(st), MAX_SPACER);
const scaled = (st) => fullH(st) > MAX_SPACER;
const virtMax = (st) => Math.max(0, fullH(st) - viewH(st));
const scrollMax = (st) => Math.max(0, spacerH(st) - viewH(st));
function scrollFor(st, virt) {
  if (!scaled(st)) return virt;
  const vm = virtMax(st);
  return vm > 0 ? (virt * scrollMax(st)) / vm : 0;
}
function virtFor(st, s) {
  if (!scaled(st)) return s;
  const sm = scrollMax(st);
  return sm > 0 ? (s * virtMax(st)) / sm : 0;
}
function setScroll(st) {
  st.virtTop = clamp(st.virtTop, 0, virtMax(st));
  st.spacer.style.height = `${spacerH(st)}px`;
  const s = Math.round(scrollFor(st, st.virtTop));
  if (Math.abs(st.scroller.scrollTop - s) >= 1) st.scroller.scrollTop = s;
  st.expectTop = st.scroller.scrollTop;
  // below the cap the browser's offset is the truth (it may have clamped or rounded it)
  if (!scaled(st) && st.scroller.clientHeight > 0) st.virtTop = clamp(st.expectTop, 0, virtMax(st));
}
function yFor(st, k) {
  return scaled(st) ? st.scroller.scrollTop + (k * ROW_H - st.virtTop) : k * ROW_H;
}
const laneX = (st, i) => TIME_W + st.layout.laneW * (i + 0.5);
function col(st, lane) {
  const c = st.colOf.get(+lane);
  return c === undefined ? -1 : c;
}

// ---------- layout: lane widths, the lane header, lifelines ----------
// The columns for the current width and lanes; false when they did not change.
function measureLayout(st) {
  const avail = Math.max(200, st.scroller.clientWidth || st.root.clientWidth || 800);
  const n = Math.max(1, st.lanes.length);
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
  const sig = st.lanes.map((l) => `${l.id}\u0001${l.label}\u0001${l.lane}`).join("\u0002");
  const key = `${laneW}|${n}|${width}|${avail}|${sig}`;
  if (st.layout && st.layout.key === key) return false;
  st.layout = { laneW, lanesW, gutterX, textX, textW, width, n, key, overflow, avail };
  return true;
}
function computeLayout(st) {
  if (!measureLayout(st)) return false;
  const { laneW, width, overflow } = st.layout;
  const stagger = laneW < COMFY_LANE_W && st.lanes.length > 1;
  st.layoutVersion++;
  st.colOf = new Map(st.lanes.map((l, i) => [Number.isInteger(+l.lane) && l.lane !== null ? +l.lane : i, i]));
  st.root.classList.toggle("gk-overflow", overflow);
  st.headH = stagger ? HEAD_H2 : HEAD_H;
  st.spacer.style.width = `${width}px`;
  st.head.style.width = `${width}px`;
  st.head.style.height = `${st.headH}px`;
  drawLaneHead(st, stagger);
  drawLifelines(st);
  syncSideways(st);
  return true;
}
function drawLaneHead(st, stagger) {
  const { laneW, textX, textW } = st.layout;
  const head = st.head;
  head.textContent = "";
  st.lanes.forEach((l, i) => {
    const d = html("div", "gk-lane-label", head);
    const w = stagger ? Math.min(2 * laneW, 140) : laneW;
    d.style.left = `${laneX(st, i) - w / 2}px`;
    d.style.width = `${w}px`;
    if (stagger) d.style.top = `${(i % 2) * 14}px`;
    d.textContent = String(l.label ?? l.id);
    d.title = `${l.label ?? ""} ${l.id ?? ""}`.trim();
    d.dataset.lane = String(i);
  });
  const th = html("div", "gk-col-head gk-pin", head, "t (s)");
  th.style.left = "0";
  th.style.width = `${TIME_W}px`;
  th.style.height = `${st.headH}px`;
  th.style.textAlign = "right";
  const mh = html("div", "gk-col-head gk-pin gk-col-message", head, "message");
  mh.style.left = `${textX}px`;
  mh.style.width = `${textW}px`;
  mh.style.height = `${st.headH}px`;
}
function drawLifelines(st) {
  const { lanesW, gutterX, overflow } = st.layout;
  st.lifeSvg.textContent = "";
  st.lifeSvg.setAttribute("width", String(TIME_W + lanesW));
  for (let i = 0; i < st.lanes.length; i++) {
    const x = laneX(st, i);
    svg("line", { class: "gk-lifeline", x1: x, x2: x, y1: 0, y2: 0 }, st.lifeSvg);
  }
  st.gutter.setAttribute("width", String(GUTTER_W));
  st.gutter.style.left = `${gutterX}px`;
  st.gutter.classList.toggle("gk-pin", overflow);
}
// The horizontal offset: pinned columns follow it; the cues count the lanes out of sight.
function syncSideways(st) {
  st.sx = st.scroller.scrollLeft;
  const v = `${st.sx}px`;
  if (st.spacer.style.getPropertyValue("--gk-sx") !== v) {
    st.spacer.style.setProperty("--gk-sx", v);
    st.head.style.setProperty("--gk-sx", v);
  }
  if (!st.layout) return;
  let left = 0;
  let right = 0;
  if (st.layout.overflow) {
    for (let i = 0; i < st.lanes.length; i++) {
      const x = laneX(st, i) - st.sx;
      if (x < TIME_W + 4) left++;
      else if (x > st.layout.gutterX - 4) right++;
    }
  }
  const cue = (b, k, text, x) => {
    b.hidden = k === 0;
    b.dataset.n = String(k);
    if (k && b.textContent !== text) b.textContent = text;
    b.style.left = `${x}px`;
  };
  cue(st.moreLeft, left, `← ${left} more lane${left === 1 ? "" : "s"}`, TIME_W + 2);
  cue(st.moreRight, right, `${right} more lane${right === 1 ? "" : "s"} →`, st.layout.gutterX - 2);
}
function scrollLanes(st, dir) {
  const hidden = dir > 0 ? +st.moreRight.dataset.n || 0 : +st.moreLeft.dataset.n || 0;
  st.scroller.scrollLeft += dir * Math.max(1, hidden) * st.layout.laneW;
  syncSideways(st);
}

// ---------- arrows: one message's line and the mark of its fate ----------
// The ends of an arrow; an end on a lane that is not shown is a short stub with a ghost dot.
function arrowEnds(st, src, dst) {
  const stub = Math.min(48, st.layout.laneW * 0.55);
  if (src < 0 && dst < 0) return [TIME_W + 4, TIME_W + 4 + stub, TIME_W + 4];
  if (src < 0) {
    const x2 = laneX(st, dst);
    const x1 = dst > 0 ? x2 - stub : x2 + stub;
    return [x1, x2, x1];
  }
  if (dst < 0) {
    const x1 = laneX(st, src);
    const x2 = src < st.lanes.length - 1 ? x1 + stub : x1 - stub;
    return [x1, x2, x2];
  }
  return [laneX(st, src), laneX(st, dst), null];
}
// a: {s (the row's svg), y, color, cls (of the line), x1, x2, dir, laneW}
function seg(a, x1, x2, cls) {
  return svg("line", { class: cls || a.cls, x1, y1: a.y, x2, y2: a.y, stroke: a.color }, a.s);
}
function arrowHead(a, filled, cls, parent) {
  const { x2, dir, y, color } = a;
  const tip = x2 - dir * 1;
  const back = tip - dir * 8;
  if (filled) return svg("polygon", { class: cls, points: `${tip},${y} ${back},${y - 4.5} ${back},${y + 4.5}`, fill: color }, parent);
  return svg("polyline", { class: cls, points: `${back},${y - 4.5} ${tip},${y} ${back},${y + 4.5}`, stroke: color }, parent);
}
const markGroup = (a, mark, extra) => svg("g", { class: `gk-mark gk-mark-${mark}`, ...(extra || {}) }, a.s);
// where a message that stays at its sender is marked: just off the sender's lane, never on
// a third peer's lifeline
const nearSender = (a) => a.x1 + a.dir * Math.min(LOST_OFF, Math.abs(a.x2 - a.x1) / 2, a.laneW * 0.4);
const DRAW_MARK = {
  heard(a) {
    seg(a, a.x1, a.x2 - a.dir * 8);
    arrowHead(a, true, "gk-mark gk-mark-heard gk-mark-head-filled", a.s);
  },
  "heard-only"(a) {
    seg(a, a.x1, a.x2 - a.dir * 8);
    const g = markGroup(a, "heard-only");
    arrowHead(a, true, "gk-mark-head-filled", g);
    svg("circle", { class: "gk-ghost", cx: a.x1, cy: a.y, r: 3.5, stroke: a.color }, g);
  },
  dup(a) {
    const { x2, y, color } = a;
    seg(a, a.x1, x2 - a.dir * 6);
    const g = markGroup(a, "dup");
    svg("circle", { cx: x2, cy: y, r: 5.5, stroke: color }, g);
    svg("line", { x1: x2 - 4, y1: y + 4, x2: x2 + 4, y2: y - 4, stroke: color }, g);
  },
  lost(a) {
    const { y } = a;
    const xm = nearSender(a);
    seg(a, a.x1, xm);
    seg(a, xm, a.x2, "gk-arrow-rest");
    const g = markGroup(a, "lost", { "data-x": xm.toFixed(1) });
    svg("line", { x1: xm - 4.5, y1: y - 4.5, x2: xm + 4.5, y2: y + 4.5 }, g);
    svg("line", { x1: xm - 4.5, y1: y + 4.5, x2: xm + 4.5, y2: y - 4.5 }, g);
  },
  refused(a) {
    // it reached the receiver, which turned it back: a bar across the line at its lane
    const { x2, dir, y } = a;
    seg(a, a.x1, x2 - dir * 3);
    const g = markGroup(a, "refused");
    svg("line", { x1: x2 - dir * 2, y1: y - 6, x2: x2 - dir * 2, y2: y + 6 }, g);
    svg("line", { x1: x2 - dir * 2, y1: y, x2: x2 - dir * 8, y2: y }, g);
  },
  untraced(a) {
    // handed over, then nobody tells: the line fades to dots, a "?" where it would arrive
    const xm = (a.x1 + a.x2) / 2;
    seg(a, a.x1, xm);
    seg(a, xm, a.x2 - a.dir * 6, "gk-arrow-rest");
    const g = markGroup(a, "untraced");
    svg("text", { x: a.x2, y: a.y + 4, "text-anchor": "middle" }, g).textContent = "?";
  },
  answered(a) {
    // arrived, proven by the answer: a filled head and a small hook turning back
    const { x2, dir, y } = a;
    seg(a, a.x1, x2 - dir * 8);
    const g = markGroup(a, "answered");
    arrowHead(a, true, "gk-mark-head-filled", g);
    svg("path", { d: `M${x2 - dir * 4} ${y + 4} q0 5 ${-dir * 6} 5 h${-dir * 4}`, stroke: a.color }, g);
  },
  queued(a) {
    // still at the sender: a pause sign just off its lane, the way ahead dotted
    const { dir, y } = a;
    const xm = nearSender(a);
    seg(a, a.x1, xm - dir * 3);
    seg(a, xm + dir * 4, a.x2, "gk-arrow-rest");
    const g = markGroup(a, "queued", { "data-x": xm.toFixed(1) });
    svg("rect", { x: xm - 3.5, y: y - 5, width: 2.6, height: 10 }, g);
    svg("rect", { x: xm + 0.9, y: y - 5, width: 2.6, height: 10 }, g);
  },
  held(a) {
    // in flight, stopped on the way: a token half way, the rest of the way dotted
    const { dir, y } = a;
    const xm = (a.x1 + a.x2) / 2;
    seg(a, a.x1, xm - dir * 6);
    seg(a, xm + dir * 6, a.x2, "gk-arrow-rest");
    const g = markGroup(a, "held", { "data-x": xm.toFixed(1) });
    svg("rect", { x: xm - 6, y: y - 4.5, width: 12, height: 9, rx: 2.5 }, g);
  },
  sent(a) {
    seg(a, a.x1, a.x2 - a.dir * 1);
    arrowHead(a, false, "gk-mark gk-mark-sent gk-mark-head-open", a.s);
  },
};
function drawArrow(st, s, r) {
  const mark = MARKS.includes(r[7]) ? r[7] : "sent";
  const color = kindColor(r[4]);
  const cls = `gk-arrow${r[8] === "dc" ? " gk-dc" : ""}`;
  const y = 11;
  let [x1, x2, ghost] = arrowEnds(st, col(st, r[2]), col(st, r[3]));
  if (x1 === x2) {
    // a message to itself: a small loop right of the lifeline
    svg("path", { class: cls, d: `M${x1} 5 h16 v12 h-12`, stroke: color }, s);
    x1 = x2 + 16;
  }
  DRAW_MARK[mark]({ s, y, color, cls, x1, x2, dir: x2 >= x1 ? 1 : -1, laneW: st.layout.laneW });
  if (ghost !== null && mark !== "heard-only") svg("circle", { class: "gk-ghost", cx: ghost, cy: y, r: 3, stroke: color }, s);
}

// ---------- rows ----------
function textCell(st, e, cls, text) {
  const t = html("span", `${cls}${st.layout.overflow ? " gk-pin" : ""}`, e, text);
  t.style.left = `${st.layout.textX}px`;
  t.style.width = `${st.layout.textW}px`;
  return t;
}
function buildRow(st, pos, r, state) {
  const e = html("div", "gk-row");
  e.dataset.pos = String(pos);
  e.style.width = `${st.layout.width}px`;
  if (!r) {
    e.classList.add("gk-pending");
    textCell(st, e, "gk-text gk-muted", state === "absent" ? "(no longer kept)" : "…");
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
  if (mark === "held" && r[13]) e.dataset.frame = String(r[13]);
  const s = svg("svg", { width: TIME_W + st.layout.lanesW + 2, height: ROW_H }, e);
  drawArrow(st, s, r);
  const t = html("span", "gk-t gk-pin", e, fmtT(r[1]));
  t.style.width = `${TIME_W}px`;
  const tx = textCell(st, e, "gk-text");
  if (n > 1) html("span", "gk-times", tx, `×${n}`).title = `${n} copies: ${r[11] || mark} (click to list them)`;
  if (+r[12]) html("span", "gk-errmark", tx, "!").title = "the trace reports an error about this message";
  html("span", `gk-kind ${kindClass(r[4])}`, tx, String(r[4] ?? ""));
  if (!["heard", "sent", "heard-only"].includes(mark)) html("span", "gk-markname", tx, mark);
  if (r[5]) html("span", "gk-label", tx, String(r[5]));
  if (r[6]) html("span", "gk-mid", tx, `#${r[6]}`);
  const src = st.lanes[col(st, r[2])];
  const dst = st.lanes[col(st, r[3])];
  let what = n > 1 ? ` · ×${n}: ${r[11] || mark}` : ` · ${mark}`;
  if (mark === "held") what += ` · in flight${r[13] ? ` (held as frame ${r[13]}${st.menu && st.menu.can() ? "; click: deliver / drop / duplicate" : ""})` : ""}`;
  e.title = `${src ? src.label : "?"} → ${dst ? dst.label : "?"} · ${r[4]}${what}${r[8] ? ` · ${r[8]}` : ""}`;
  return e;
}
function rowClass(st, r) {
  let c = "gk-row";
  if (!r) return "gk-row gk-pending";
  const mid = String(r[6] ?? "");
  const rt = String(r[9] ?? "");
  const sel = st.selected;
  if (sel) {
    if (mid === sel) c += " gk-selected gk-related";
    else if ((rt && rt === sel) || (st.selReplyTo && mid === st.selReplyTo) || st.relatedMids.has(mid)) c += " gk-related";
  }
  return c;
}

// ---------- the window onto the rows (virtual rows) ----------
function visibleRange(st) {
  const vh = viewH(st);
  const k0 = Math.floor(st.virtTop / ROW_H);
  const k1 = Math.min(st.count, Math.ceil((st.virtTop + vh) / ROW_H));
  return [clamp(k0, 0, st.count), clamp(k1, 0, st.count)];
}
// Display rows ka..kb (exclusive) at their places: built when new or changed, re-classed
// when the selection changed, the others removed.
function placeRows(st, ka, kb, yA) {
  const end = st.base + st.count;
  const keep = new Set();
  const frag = document.createDocumentFragment();
  for (let k = ka; k < kb; k++) {
    const pos = end - 1 - k;
    keep.add(pos);
    const r = st.cache.get(pos);
    const key = r ? r.join("\u0001") : st.absent.has(pos) ? "absent" : "pending";
    let rec = st.rendered.get(pos);
    if (!rec || rec.key !== key || rec.lv !== st.layoutVersion) {
      const e = buildRow(st, pos, r, key);
      if (rec) rec.el.replaceWith(e);
      else frag.appendChild(e);
      rec = { el: e, key, lv: st.layoutVersion, cls: "" };
      st.rendered.set(pos, rec);
    }
    const cls = rowClass(st, r);
    if (rec.cls !== cls) {
      rec.el.className = cls;
      rec.cls = cls;
    }
    const y = `${yA + (k - ka) * ROW_H}px`;
    if (rec.el.style.top !== y) rec.el.style.top = y;
  }
  for (const [pos, rec] of st.rendered) {
    if (!keep.has(pos)) {
      rec.el.remove();
      st.rendered.delete(pos);
    }
  }
  if (frag.childNodes.length) st.spacer.appendChild(frag);
}
function draw(st) {
  if (st.life.dead) return;
  if (!st.layout) computeLayout(st);
  const [v0, v1] = visibleRange(st);
  st.lastVisible = [v0, v1];
  const ka = Math.max(0, v0 - OVERSCAN);
  const kb = Math.min(st.count, v1 + OVERSCAN);
  const yA = yFor(st, ka);
  placeRows(st, ka, kb, yA);
  // lifelines behind the drawn rows
  const hh = (kb - ka) * ROW_H;
  st.lifeSvg.style.top = `${yA}px`;
  st.lifeSvg.setAttribute("height", String(Math.max(0, hh)));
  for (const l of st.lifeSvg.children) l.setAttribute("y2", String(hh));
  drawConnectors(st, ka, kb, yA);
  st.emptyMsg.hidden = st.count > 0;
  const et = st.total > 0 ? "no messages match the filters" : "no messages yet";
  if (st.emptyMsg.textContent !== et) st.emptyMsg.textContent = et;
  updateCount(st, v0, v1);
  ensureRows(st, ka, kb);
}
// In the gutter: a bracket joining the selected request (and the one it answers) to the
// replies on screen.
function drawConnectors(st, ka, kb, yA) {
  const gutter = st.gutter;
  gutter.textContent = "";
  gutter.style.top = `${yA}px`;
  gutter.setAttribute("height", String(Math.max(0, (kb - ka) * ROW_H)));
  if (!st.selected) return;
  const end = st.base + st.count;
  const qs = [st.selected];
  if (st.selReplyTo && st.selReplyTo !== st.selected) qs.push(st.selReplyTo);
  for (const q of qs) {
    const reqYs = [];
    const repYs = [];
    for (let k = ka; k < kb; k++) {
      const r = st.cache.get(end - 1 - k);
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
function updateCount(st, v0, v1) {
  const { count, total, kept, cap, countText } = st;
  const shown = count ? `showing ${fmtInt(v0 + 1)}–${fmtInt(Math.max(v0 + 1, v1))} of ${fmtInt(count)}` : "showing 0 of 0";
  const hold = st.paused ? " · paused" : st.held && st.virtTop >= ROW_H / 2 ? " · held while pointing" : "";
  const txt = `${shown} (${fmtInt(total)} recorded; ${fmtInt(kept)} kept)${hold}`;
  if (countText.textContent !== txt) countText.textContent = txt;
  const tip = cap ? `the model keeps at most ${fmtInt(cap)} rows` : "";
  if (countText.title !== tip) countText.title = tip;
}

// ---------- requests: rows asked of Python by chunk ----------
function chunkNeeds(st, c, end) {
  const a = Math.max(st.base, c * CHUNK);
  const b = Math.min(end, (c + 1) * CHUNK);
  for (let p = a; p < b; p++) if (!st.cache.has(p) && !st.absent.has(p)) return true;
  return false;
}
function expireRequests(st, now) {
  for (const [req, p] of st.pending) {
    if (now - p.at > PENDING_MS) {
      st.pending.delete(req);
      for (const c of p.chunks) if (st.pendingChunks.get(c) === req) st.pendingChunks.delete(c);
    }
  }
}
// Ask for the chunks `run` (consecutive, newest first) in one request.
function askChunks(st, run, end, now) {
  const from = Math.max(st.base, Math.min(...run) * CHUNK);
  const to = Math.min(end, (Math.max(...run) + 1) * CHUNK);
  const req = st.nextReq++;
  st.pending.set(req, { from, to, epoch: st.epoch, chunks: run, at: now });
  for (const c of run) st.pendingChunks.set(c, req);
  st.model.send({ type: "rows", req, from, to });
  // an unanswered request expires after PENDING_MS: look again then
  if (!st.retryTimer) st.retryTimer = setTimeout(() => ((st.retryTimer = 0), draw(st)), PENDING_MS + 50);
}
function ensureRows(st, ka, kb) {
  if (!st.count || kb <= ka) return;
  const now = performance.now();
  expireRequests(st, now);
  const end = st.base + st.count;
  const c0 = Math.floor((end - kb) / CHUNK);
  const c1 = Math.floor((end - ka - 1) / CHUNK);
  let run = [];
  const flush = () => {
    if (run.length) askChunks(st, run, end, now);
    run = [];
  };
  for (let c = c1; c >= c0; c--) {
    // newest first: the rows at the top of the view are asked for first
    if (!st.pendingChunks.has(c) && chunkNeeds(st, c, end)) {
      if (run.length && (run[run.length - 1] !== c + 1 || run.length >= MAX_RUN)) flush();
      run.push(c);
    } else flush();
  }
  flush();
}
// Once scrolling settles away from the newest rows, ask for exactly the rows on screen:
// it refreshes them and tells Python which range to keep up to date in its ticks (rows
// whose mark changed), since with auto-scroll it only sends the newest.
function scheduleWindow(st) {
  clearTimeout(st.settleTimer);
  st.settleTimer = setTimeout(() => sendWindow(st), SETTLE_MS);
}
function sendWindow(st) {
  st.settleTimer = 0;
  if (st.life.dead || !st.count || (st.follow && st.virtTop < ROW_H / 2)) return;
  const end = st.base + st.count;
  const [v0, v1] = visibleRange(st);
  const from = Math.max(st.base, end - Math.min(st.count, v1 + OVERSCAN));
  const to = end - Math.max(0, v0 - OVERSCAN);
  const key = `${st.epoch}:${from}:${to}`;
  if (to <= from || key === st.lastWindow) return;
  st.lastWindow = key;
  const req = st.nextReq++;
  st.pending.set(req, { from, to, epoch: st.epoch, chunks: [], at: performance.now() });
  st.model.send({ type: "rows", req, from, to });
}
function addRows(st, rows) {
  if (!Array.isArray(rows)) return 0;
  let n = 0;
  for (const r of rows) {
    if (!Array.isArray(r) || !Number.isFinite(+r[0])) continue;
    const pos = +r[0];
    st.cache.set(pos, r);
    st.absent.delete(pos);
    if (st.selected && !st.selReplyTo && String(r[6]) === st.selected && r[9]) st.selReplyTo = String(r[9]);
    n++;
  }
  return n;
}
function trimCache(st) {
  const { cache, absent, base } = st;
  for (const p of cache.keys()) if (p < base) cache.delete(p);
  for (const p of absent) if (p < base) absent.delete(p);
  if (absent.size > 50000) absent.clear();
  if (cache.size <= CACHE_MAX) return;
  const end = base + st.count;
  const centre = end - 1 - (st.lastVisible[0] + st.lastVisible[1]) / 2;
  const keys = [...cache.keys()].sort((a, b) => Math.abs(a - centre) - Math.abs(b - centre));
  for (let i = Math.floor(CACHE_MAX * 0.75); i < keys.length; i++) cache.delete(keys[i]);
}

// ---------- counts & anchoring ----------
function setCounts(st, c, b, tot, kp) {
  const cur = st.scroller.scrollTop;
  if (Math.abs(cur - st.expectTop) > 1) st.virtTop = clamp(virtFor(st, cur), 0, virtMax(st)); // a scroll not seen yet
  const atTop = st.virtTop < ROW_H / 2;
  const oldEnd = st.base + st.count;
  if (Number.isFinite(+c)) st.count = Math.max(0, Math.floor(+c));
  if (Number.isFinite(+b)) st.base = Math.max(0, Math.floor(+b));
  if (Number.isFinite(+tot)) st.total = +tot;
  if (Number.isFinite(+kp)) st.kept = +kp;
  const newEnd = st.base + st.count;
  if (st.follow && atTop && !st.pointing) st.virtTop = 0;
  else if (newEnd !== oldEnd) st.virtTop += (newEnd - oldEnd) * ROW_H; // stay on the same rows
  trimCache(st);
  setScroll(st);
}

// ---------- messages from Python ----------
function sendViewport(st, force) {
  const n = Math.max(1, Math.ceil(viewH(st) / ROW_H));
  if (force || n !== st.viewportN) {
    st.viewportN = n;
    st.model.send({ type: "viewport", n });
  }
}
function dropAll(st) {
  st.epoch++;
  st.cache.clear();
  st.absent.clear();
  st.pending.clear();
  st.pendingChunks.clear();
  for (const rec of st.rendered.values()) rec.el.remove();
  st.rendered.clear();
}
const ON_MSG = {
  tick(st, msg) {
    addRows(st, msg.rows);
    setCounts(st, msg.count, msg.base, msg.total, msg.kept);
    draw(st);
    return true;
  },
  rows(st, msg) {
    const p = st.pending.get(msg.req);
    if (!p) return false;
    st.pending.delete(msg.req);
    for (const c of p.chunks) if (st.pendingChunks.get(c) === msg.req) st.pendingChunks.delete(c);
    if (p.epoch !== st.epoch) return false;
    addRows(st, msg.rows);
    for (let pos = p.from; pos < p.to; pos++) if (!st.cache.has(pos) && pos >= st.base) st.absent.add(pos);
    trimCache(st);
    draw(st);
    return true;
  },
  found(st, msg) {
    if (msg.req !== st.jumpReq) return false;
    for (const b of Object.values(st.jumpBtns)) b.disabled = false;
    if (!Array.isArray(msg.row) || !Number.isFinite(+msg.pos)) {
      st.countText.dataset.jump = "none";
      st.countText.textContent = `no ${msg.mark || "such"} row`;
      return true;
    }
    addRows(st, [msg.row]);
    jumpTo(st, +msg.pos, String(msg.row[6] ?? ""), msg.row);
    return true;
  },
  stepped(st, msg) {
    return !!st.menu && st.menu.answered(msg);
  },
  members(st, msg) {
    if (!st.members || msg.req !== st.members.req) return false;
    st.members.rows = Array.isArray(msg.rows) ? msg.rows : [];
    drawDetail(st);
    return true;
  },
  reset(st, msg) {
    dropAll(st);
    // a new sequence: positions mean other rows now, so start again at the newest
    st.count = Math.max(0, Math.floor(+msg.count || 0));
    st.base = Math.max(0, Math.floor(+msg.base || 0));
    if (Number.isFinite(+msg.total)) st.total = +msg.total;
    if (Number.isFinite(+msg.kept)) st.kept = +msg.kept;
    st.virtTop = 0;
    setScroll(st);
    draw(st);
    return true;
  },
};
function onMsg(st, msg) {
  if (!msg || typeof msg !== "object" || !Object.hasOwn(ON_MSG, msg.type)) return;
  if (ON_MSG[msg.type](st, msg)) bump(st.root);
}

// ---------- jumps: the next lost / dup / err row, asked of Python (it holds every row) ----------
function jumpFrom(st) {
  // from the selected row when it is on screen, else from the top of the view
  const end = st.base + st.count;
  const [v0, v1] = st.lastVisible;
  if (st.selected) {
    for (const [pos, rec] of st.rendered) {
      if (rec.el.dataset.mid === st.selected && pos >= end - v1 && pos <= end - 1 - v0) return pos;
    }
  }
  return end - v0;
}
function askJump(st, mark) {
  st.jumpReq = st.nextReq++;
  for (const b of Object.values(st.jumpBtns)) b.disabled = true;
  delete st.countText.dataset.jump;
  st.model.send({ type: "find", req: st.jumpReq, mark, from: jumpFrom(st) });
  // Python may be gone (a saved notebook): never leave the buttons disabled
  setTimeout(() => {
    for (const b of Object.values(st.jumpBtns)) b.disabled = false;
  }, PENDING_MS);
}
function jumpTo(st, pos, mid, row) {
  if (st.follow) {
    st.follow = false; // a jump is a place to look at: the traffic must not scroll it away
    save(st.model, { follow: false });
    syncToolbar(st);
  }
  const k = st.base + st.count - 1 - pos;
  st.virtTop = clamp(k * ROW_H - Math.floor(viewH(st) / 3), 0, virtMax(st));
  setScroll(st);
  if (mid) select(st, mid, row);
  else draw(st);
  sendWindow(st);
}

// ---------- toolbar: filters, pause, follow, group ----------
// The filters in force: Python's defaults (the `filter_defaults` trait) under the `filters` trait.
function filters(st) {
  const d = st.model.get("filter_defaults");
  const f = st.model.get("filters");
  return { ...(d && typeof d === "object" ? d : {}), ...(f && typeof f === "object" ? f : {}) };
}
function setFilter(st, key, value) {
  const f = filters(st);
  if (JSON.stringify(f[key]) === JSON.stringify(value)) return;
  f[key] = value;
  save(st.model, { filters: f });
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
function syncPairChip(st, pair) {
  if (pair.length !== 2) {
    st.pairChip.hidden = true;
    return;
  }
  const name = (id) => {
    const l = st.lanes.find((x) => String(x.id) === String(id));
    return l ? String(l.label ?? id) : String(id);
  };
  st.pairText.textContent = `link: ${name(pair[0])} ↔ ${name(pair[1])}`;
  st.pairChip.hidden = false;
}
function syncToolbar(st) {
  const f = filters(st);
  const { inSoul, selTransport } = st;
  fillSelect(st.selPeer, st.lanes.map((l) => [String(l.id), String(l.label ?? l.id)]), String(f.peer || ""));
  const kinds = Array.isArray(st.model.get("kinds")) ? st.model.get("kinds") : [];
  fillSelect(st.selKind, kinds.map((k) => [String(k), String(k)]), String(f.kind || ""));
  if (document.activeElement !== inSoul && inSoul.value !== String(f.soul || "")) inSoul.value = String(f.soul || "");
  if (selTransport.value !== String(f.transport || "")) selTransport.value = String(f.transport || "");
  st.inHide.checked = !!f.hide_signaling;
  syncPairChip(st, Array.isArray(f.pair) ? f.pair : []);
  st.btnPause.textContent = st.paused ? "resume" : "pause";
  st.btnPause.setAttribute("aria-pressed", String(st.paused));
  st.btnFollow.setAttribute("aria-pressed", String(st.follow));
  st.btnGroup.setAttribute("aria-pressed", String(st.grouped));
}
function toggleFollow(st) {
  st.follow = !st.follow;
  save(st.model, { follow: st.follow });
  if (st.follow) {
    st.virtTop = 0;
    setScroll(st);
    draw(st);
  } else sendWindow(st);
  syncToolbar(st);
}
function listenToolbar(st) {
  const { life, inSoul } = st;
  life.listen(st.selPeer, "change", () => setFilter(st, "peer", st.selPeer.value));
  life.listen(st.selKind, "change", () => setFilter(st, "kind", st.selKind.value));
  life.listen(st.selTransport, "change", () => setFilter(st, "transport", st.selTransport.value));
  life.listen(st.inHide, "change", () => setFilter(st, "hide_signaling", st.inHide.checked));
  life.listen(inSoul, "input", () => {
    clearTimeout(st.soulTimer);
    st.soulTimer = setTimeout(() => setFilter(st, "soul", inSoul.value.trim()), 300);
  });
  life.listen(inSoul, "change", () => {
    clearTimeout(st.soulTimer);
    setFilter(st, "soul", inSoul.value.trim());
  });
  life.listen(st.pairClear, "click", () => setFilter(st, "pair", []));
  life.listen(st.btnPause, "click", () => {
    st.paused = !st.paused;
    save(st.model, { paused: st.paused });
    syncToolbar(st);
    updateCount(st, ...st.lastVisible);
  });
  life.listen(st.btnFollow, "click", () => toggleFollow(st));
  life.listen(st.btnGroup, "click", () => {
    st.grouped = !st.grouped;
    save(st.model, { group: st.grouped });
    syncToolbar(st);
  });
  for (const b of Object.values(st.jumpBtns)) life.listen(b, "click", (ev) => askJump(st, ev.currentTarget.dataset.mark));
  life.listen(st.moreLeft, "click", () => scrollLanes(st, -1));
  life.listen(st.moreRight, "click", () => scrollLanes(st, 1));
}

// ---------- selection & the detail pane ----------
function findReplyTo(st, mid) {
  for (const r of st.cache.values()) if (String(r[6]) === mid && r[9]) return String(r[9]);
  return null;
}
function applySelection(st) {
  st.selected = String(st.model.get("selected") || "");
  if (!st.selected) st.members = null;
  st.selReplyTo = st.selected ? findReplyTo(st, st.selected) : null;
  const d = st.model.get("detail");
  st.relatedMids = new Set(d && String(d.mid) === st.selected && Array.isArray(d.related) ? d.related.map(String) : []);
  for (const rec of st.rendered.values()) rec.cls = ""; // re-class on the next draw
  drawDetail(st);
}
// Select message `mid` (`row`: its row, when a group: its copies are asked for).
function select(st, mid, row) {
  if (!mid) return;
  st.members = null;
  if (row && +row[10] > 1) {
    // a group: list its copies in the detail pane
    st.members = { req: st.nextReq++, pos: +row[0], n: +row[10], summary: String(row[11] || ""), rows: null };
    st.model.send({ type: "members", req: st.members.req, pos: st.members.pos });
  }
  save(st.model, { selected: mid });
  applySelection(st);
  draw(st);
}
function clearSelection(st) {
  save(st.model, { selected: "" });
  applySelection(st);
  draw(st);
}
function drawLegend(detail) {
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
}
function markIcon(parent, m) {
  html("span", `gk-markicon gk-m-${m}`, parent, MARK_ICON[m] || "·").title = MARK_MEANING[m] || m;
}
function drawDetail(st) {
  const { detail, selected } = st;
  detail.textContent = "";
  st.root.classList.toggle("gk-has-selection", !!selected);
  if (!selected) return drawLegend(detail);
  const d = st.model.get("detail");
  const h = html("h4", "", detail);
  html("span", "gk-mono", h, `#${selected}`);
  if (st.members) drawMembers(st);
  const close = html("button", "gk-clear-selection", h, "×"); // detail's click listener answers it
  close.type = "button";
  close.setAttribute("aria-label", "clear the selection");
  close.style.marginLeft = "auto";
  if (!d || String(d.mid) !== selected) {
    html("div", "gk-note", detail, "loading…");
    return;
  }
  if (d.kind) h.insertBefore(html("span", `gk-kind ${kindClass(d.kind)}`, null, String(d.kind)), close);
  html("p", "gk-summary", detail, String(d.summary ?? ""));
  if (Array.isArray(d.fate) && d.fate.length) drawFate(detail, d.fate);
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
function drawFate(detail, fate) {
  html("h5", "", detail, "fate");
  const ol = html("ol", "gk-fate", detail);
  for (const f of fate) {
    const li = html("li", "", ol);
    const m = String(f.mark || "");
    li.dataset.mark = m;
    html("span", "gk-fate-t", li, Number.isFinite(+f.t) ? `+${(+f.t).toFixed(3)}` : "");
    markIcon(li, m);
    html("span", "", li, String(f.text ?? ""));
  }
}
function drawMembers(st) {
  const { members } = st;
  const box = html("div", "gk-group-box", st.detail);
  html("h5", "", box, `${members.n} copies${members.summary ? `: ${members.summary}` : ""}`);
  if (!members.rows) {
    html("div", "gk-note", box, "loading…");
    return;
  }
  const ul = html("ul", "gk-members", box);
  for (const r of members.rows) {
    const src = st.lanes[col(st, r[2])];
    const dst = st.lanes[col(st, r[3])];
    const li = html("li", "", ul);
    li.dataset.mid = String(r[6] ?? "");
    li.dataset.mark = String(r[7] ?? "");
    const m = String(r[7] || "");
    markIcon(li, m);
    html("span", "", li, ` ${fmtT(r[1])} ${src ? src.label : "?"} → ${dst ? dst.label : "?"} #${r[6]} ${m}`);
  }
}
function onDetailClick(st, ev) {
  if (closest(ev, ".gk-clear-selection")) return clearSelection(st);
  const li = closest(ev, ".gk-members li");
  if (!li || !li.dataset.mid) return;
  const keep = st.members;
  save(st.model, { selected: li.dataset.mid });
  applySelection(st);
  st.members = keep; // still the same group's list
  drawDetail(st);
  draw(st);
}
function listenSelection(st) {
  st.life.listen(st.detail, "click", (ev) => onDetailClick(st, ev));
  st.life.listen(st.spacer, "click", (ev) => {
    const row = closest(ev, ".gk-row");
    if (row && row.dataset.mid) select(st, row.dataset.mid, st.cache.get(+row.dataset.pos));
    if (row && row.dataset.frame) openMenu(st, row, ev);
    else if (st.menu) st.menu.close();
  });
}
// a held row clicked: the step menu for its frame, where the click was
function openMenu(st, row, ev) {
  const r = st.cache.get(+row.dataset.pos);
  const box = st.main.getBoundingClientRect();
  const src = r && st.lanes[col(st, r[2])];
  const dst = r && st.lanes[col(st, r[3])];
  const text = r ? `${row.dataset.frame} ${src ? src.label : "?"} → ${dst ? dst.label : "?"} · ${r[4]} #${r[6]}` : row.dataset.frame;
  if (st.menu.open(row.dataset.frame, text, ev.clientX - box.left, ev.clientY - box.top)) bump(st.root);
}

// ---------- scrolling: native below the cap, virtual above it; pointing holds follow ----------
function scrolled(st) {
  setScroll(st);
  draw(st);
  scheduleWindow(st);
}
function onScroll(st) {
  const { scroller } = st;
  if (scroller.scrollLeft !== st.sx) syncSideways(st);
  const s = scroller.scrollTop;
  if (Math.abs(s - st.expectTop) > 1) st.virtTop = clamp(virtFor(st, s), 0, virtMax(st));
  st.expectTop = s;
  draw(st);
  scheduleWindow(st);
}
function onWheel(st, ev) {
  st.held = false; // the user scrolls: they choose where to look now
  if (!scaled(st) || ev.ctrlKey) return; // native scrolling is exact below the cap
  ev.preventDefault();
  const unit = ev.deltaMode === 1 ? ROW_H : ev.deltaMode === 2 ? viewH(st) : 1;
  st.virtTop = clamp(st.virtTop + ev.deltaY * unit, 0, virtMax(st));
  if (ev.deltaX) st.scroller.scrollLeft += ev.deltaX * unit;
  scrolled(st);
}
function onKey(st, ev) {
  if (ev.key !== "Escape") st.held = false;
  if (ev.key === "Escape" && st.selected) return clearSelection(st);
  if (!scaled(st)) return;
  const page = viewH(st) - ROW_H;
  const step = { ArrowDown: ROW_H, ArrowUp: -ROW_H, PageDown: page, PageUp: -page, " ": page }[ev.key];
  if (ev.key === "Home") st.virtTop = 0;
  else if (ev.key === "End") st.virtTop = virtMax(st);
  else if (step !== undefined) st.virtTop += step;
  else return;
  ev.preventDefault();
  scrolled(st);
}
function listenScrolling(st) {
  const { life, scroller } = st;
  life.listen(scroller, "pointerdown", (ev) => {
    if (ev.offsetX >= scroller.clientWidth) st.held = false; // a drag on the scrollbar
  });
  life.listen(scroller, "pointerenter", () => {
    st.pointing = true;
    st.held = st.follow && st.virtTop < ROW_H / 2;
  });
  life.listen(scroller, "pointerleave", () => {
    st.pointing = false;
    if (st.held && st.follow) {
      st.virtTop = 0; // back to the newest rows
      setScroll(st);
      draw(st);
    }
    st.held = false;
  });
  life.listen(scroller, "scroll", () => onScroll(st), { passive: true });
  life.listen(scroller, "wheel", (ev) => onWheel(st, ev), { passive: false });
  life.listen(scroller, "keydown", (ev) => onKey(st, ev));
}
function onResize(st) {
  st.root.classList.toggle("gk-narrow", st.root.clientWidth > 0 && st.root.clientWidth < 760);
  computeLayout(st);
  setScroll(st);
  draw(st);
  sendViewport(st, false);
}

// ---------- traits ----------
function readLanes(st) {
  st.lanes = Array.isArray(st.model.get("lanes")) ? st.model.get("lanes") : [];
}
function readFollow(st) {
  const f = st.model.get("follow");
  st.follow = f === undefined ? true : !!f;
}
function onHeight(st) {
  st.root.style.height = `${+st.model.get("height") || 460}px`;
}
function traitHandlers(st) {
  const m = st.model;
  const counts = () => {
    setCounts(st, m.get("count"), m.get("base"), m.get("total"), m.get("kept"));
    st.cap = +m.get("cap") || 0;
    draw(st);
  };
  const selection = () => (applySelection(st), draw(st));
  return {
    lanes: () => (readLanes(st), computeLayout(st), syncToolbar(st), draw(st)),
    count: counts,
    base: counts,
    total: counts,
    kept: counts,
    cap: counts,
    filters: () => syncToolbar(st),
    filter_defaults: () => syncToolbar(st),
    kinds: () => syncToolbar(st),
    selected: selection,
    detail: selection,
    paused: () => {
      st.paused = !!m.get("paused");
      syncToolbar(st);
      updateCount(st, ...st.lastVisible);
    },
    follow: () => (readFollow(st), syncToolbar(st)),
    group: () => ((st.grouped = !!m.get("group")), syncToolbar(st)),
    window: () => addRows(st, m.get("window")) && draw(st),
    height: () => (onHeight(st), onResize(st)),
  };
}
function listenModel(st) {
  const handlers = traitHandlers(st);
  for (const name in handlers) {
    st.life.listen(st.model, `change:${name}`, (...a) => {
      handlers[name](...a);
      bump(st.root);
    });
  }
  st.life.listen(st.model, "msg:custom", (msg) => onMsg(st, msg));
}

// ---------- first paint ----------
function readTraits(st) {
  const m = st.model;
  readLanes(st);
  st.paused = !!m.get("paused");
  st.grouped = !!m.get("group");
  readFollow(st);
  st.count = Math.max(0, +m.get("count") || 0);
  st.base = Math.max(0, +m.get("base") || 0);
  st.total = +m.get("total") || 0;
  st.kept = +m.get("kept") || 0;
  st.cap = +m.get("cap") || 0;
  addRows(st, m.get("window"));
}

function render({ model, el }) {
  const st = newState(model);
  const { life } = st;
  st.root = viewRoot(el, "flow", "gk-flow");
  html("style", "", st.root, FLOW_CSS);
  buildToolbar(st);
  errorBanner(model, st.root, null, life);
  buildBody(st);
  st.menu = stepMenu(model, st.main, life);
  observeSize(life, [st.root, st.scroller], () => onResize(st));
  listenModel(st);
  listenToolbar(st);
  listenSelection(st);
  listenScrolling(st);
  life.later(() => [st.soulTimer, st.retryTimer, st.settleTimer].forEach(clearTimeout));

  onHeight(st);
  readTraits(st);
  computeLayout(st);
  syncToolbar(st);
  applySelection(st);
  setScroll(st);
  model.send({ type: "hello" });
  sendViewport(st, true);
  draw(st);

  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
