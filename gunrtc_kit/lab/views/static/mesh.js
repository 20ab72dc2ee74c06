// MeshView: the live mesh as SVG (see docs/views.md, "MeshView").
//
// State arrives as a `reset` then `diff`s (custom messages) or, for a saved notebook, the
// `snapshot` trait. Every node and edge element is kept in a Map id -> record and only the
// elements a diff names are touched. Nodes move only when Python moves them (animated over
// 300 ms); pulses are dots travelling along the wire they were said on (450 ms, at most 60
// alive). One requestAnimationFrame loop runs only while something moves.
//
// An edge is a wire: two peers may share several (ws, dc, memory wires), each its own path.
// The wires of a pair are drawn as symmetric arcs around their chord (ordered by transport,
// then tag), and a bundle whose chord would pass over a third node is bent around it: the
// same steps as wire_curves in layout.py, here in pixels.
//
// Step mode: each held frame is a token (its frame name and kind) on the wire it waits on,
// in the sender's half, oldest nearest the sender; the wire's plate counts them. `held` in a
// reset or a diff replaces the whole set. In a Lab's view (`steppable`) a click on a token
// opens the step menu (deliver / drop / duplicate, common.js stepMenu); a replay's only shows.

import { html, svg, fmtInt, viewRoot, bump, save, closest, lifetime, observeSize, diffStream, errorBanner, kindColor, TRANSPORTS, stepMenu, heldText } from "./common.js";

const STATES = ["open", "connecting", "new", "closed", "failed"];
const MOVE_MS = 300;
const PULSE_MS = 450;
const MAX_PULSES = 60;
const MIN_K = 0.1;
const MAX_K = 10;
const NODE_MARGIN = 5; // px a wire keeps clear of a node's outline
const WIRE_GAP = 10; // px between the apexes of two parallel wires
const BEND_STEP = 6; // px: how a bundle's bend grows while it still hits a node
const SAMPLES = 12; // straight pieces a curve is measured on
const TOKEN_H = 14; // px: a held frame's token
const TOKEN_GAP = 3; // px between two tokens on one wire
const CLOSED_TEXT = "Lab closed — this view no longer updates";

const plural = (n, one, many) => `${fmtInt(n)} ${+n === 1 ? one : many}`;
const ease = (p) => (p < 0.5 ? 4 * p * p * p : 1 - Math.pow(-2 * p + 2, 3) / 2);

// the plate of a wire: a memory wire's faults, and the frames held on it
function plateText(d) {
  const parts = d.transport === "memory" ? [faultText(d)].filter(Boolean) : [];
  if (+d.held > 0) parts.push(`${fmtInt(d.held)} held`);
  return parts.join(" · ");
}
function faultText(d) {
  if (d.partitioned) return "partitioned";
  const parts = [];
  if (d.latency != null && +d.latency > 0) parts.push(`${Math.round(+d.latency * 1000)} ms`);
  if (d.loss != null && +d.loss > 0) parts.push(`${+(+d.loss * 100).toFixed(1)}% loss`);
  return parts.join(" · ");
}

// ---------- wire geometry (pixels; see wire_curves in layout.py) ----------
const pairKey = (a, b) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);
const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
function byWire(p, q) {
  const a = p.d;
  const b = q.d;
  return cmp(String(a.transport ?? "?"), String(b.transport ?? "?")) || cmp(String(a.tag ?? ""), String(b.tag ?? "")) || cmp(String(a.id), String(b.id));
}
function segDist(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const n = dx * dx + dy * dy;
  let t = n ? ((px - ax) * dx + (py - ay) * dy) / n : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  return Math.hypot(ax + t * dx - px, ay + t * dy - py);
}
function bez(g, t) {
  const u = 1 - t;
  return [u * u * g.x0 + 2 * u * t * g.cx + t * t * g.x1, u * u * g.y0 + 2 * u * t * g.cy + t * t * g.y1];
}
function curveDist(g, x, y) {
  if (g.straight) return segDist(x, y, g.x0, g.y0, g.x1, g.y1);
  let best = Infinity;
  let [px, py] = bez(g, 0);
  for (let i = 1; i <= SAMPLES; i++) {
    const [qx, qy] = bez(g, i / SAMPLES);
    best = Math.min(best, segDist(x, y, px, py, qx, qy));
    px = qx;
    py = qy;
  }
  return best;
}
// the arc from A to B whose apex stands `off` px off the chord's middle (left of A->B)
function arc(A, B, off) {
  const len = Math.hypot(B.x - A.x, B.y - A.y) || 1;
  const nx = -(B.y - A.y) / len;
  const ny = (B.x - A.x) / len;
  const mx = (A.x + B.x) / 2;
  const my = (A.y + B.y) / 2;
  return { x0: A.x, y0: A.y, cx: mx + 2 * off * nx, cy: my + 2 * off * ny, x1: B.x, y1: B.y, straight: Math.abs(off) < 0.05 };
}
// the least slack (px) between the curves and the obstacles [x, y, r]: >= 0 is clear
function slack(curves, obstacles) {
  let worst = Infinity;
  for (const g of curves) {
    const x0 = Math.min(g.x0, g.x1, g.cx) - 40;
    const x1 = Math.max(g.x0, g.x1, g.cx) + 40;
    const y0 = Math.min(g.y0, g.y1, g.cy) - 40;
    const y1 = Math.max(g.y0, g.y1, g.cy) + 40;
    for (const [x, y, r] of obstacles) {
      if (x < x0 || x > x1 || y < y0 || y > y1) continue;
      worst = Math.min(worst, curveDist(g, x, y) - r);
    }
  }
  return worst;
}

function edgeWidth(d) {
  // quarter-pixel steps: a rate that drifts does not repaint the edge layer on every diff
  const rate = Math.max(0, +d.rate || 0);
  return Math.round(Math.min(8, 1.5 + Math.log2(1 + rate)) * 4) / 4;
}

function legend(parent) {
  const box = html("div", "gk-legend", parent);
  box.setAttribute("aria-label", "legend");
  const item = (label, attrs) => {
    const it = html("span", "gk-legend-item", box);
    const s = svg("svg", { width: 22, height: 8, "aria-hidden": "true" }, it);
    svg("line", { x1: 1, y1: 4, x2: 21, y2: 4, ...attrs }, s);
    html("span", "", it, label);
  };
  item("ws", { stroke: "#3b82f6" });
  item("dc", { stroke: "#16a34a" });
  item("memory", { stroke: "#f59e0b" });
  html("span", "gk-legend-sep", box);
  item("open", { stroke: "currentColor" });
  item("connecting", { stroke: "currentColor", "stroke-dasharray": "5 3" });
  item("closed", { stroke: "#9ca3af", "stroke-dasharray": "1 3", "stroke-linecap": "round" });
  item("partitioned", { stroke: "#dc2626", "stroke-dasharray": "5 2" });
  return box;
}

// ---------- DOM ----------
function buildHeader(st) {
  const header = html("div", "gk-header", st.root);
  st.title = html("span", "gk-title", header);
  legend(header);
  html("span", "gk-spring", header);
  st.zoomLabel = html("span", "gk-zoom-label", header, "100%");
  st.fitBtn = html("button", "gk-fit", header, "fit");
  st.fitBtn.type = "button";
  st.fitBtn.title = "fit the graph to the view";
  st.status = html("div", "gk-status", st.root, "0 peers · 0 links");
  st.status.setAttribute("role", "status");
}
function buildClosedBanner(st) {
  // the Lab closed: what is drawn stays, plainly marked as no longer live
  const closedBox = (st.closedBox = html("div", "gk-closed-banner", st.root, CLOSED_TEXT));
  closedBox.setAttribute("role", "status");
  Object.assign(closedBox.style, {
    padding: "4px 10px",
    fontWeight: "600",
    color: "var(--gk-fg)",
    background: "color-mix(in srgb, var(--gk-fg) 12%, var(--gk-bg))",
    borderBottom: "1px solid var(--gk-border)",
  });
  closedBox.hidden = true;
}
function buildStage(st) {
  const stage = (st.stage = html("div", "gk-stage", st.root));
  // Three stacked SVGs, each its own compositing layer: moving dots repaint only theirs,
  // never the 1,500 edges below them. The top one takes the pointer.
  const edgeSvg = svg("svg", { class: "gk-mesh-layer", "aria-hidden": "true" }, stage);
  const pulseSvg = svg("svg", { class: "gk-mesh-layer", "aria-hidden": "true" }, stage);
  st.svgEl = svg("svg", { class: "gk-svg", role: "img", "aria-label": "mesh graph" }, stage);
  st.viewports = [edgeSvg, pulseSvg, st.svgEl].map((s) => svg("g", { class: "gk-viewport" }, s));
  st.gEdges = svg("g", { class: "gk-edges" }, st.viewports[0]);
  st.halo = svg("path", { class: "gk-edge-halo", hidden: "" }, st.gEdges);
  st.gLabels = svg("g", { class: "gk-edge-labels" }, st.viewports[0]);
  st.gPulses = svg("g", { class: "gk-pulses" }, st.viewports[1]);
  st.gNodes = svg("g", { class: "gk-nodes" }, st.viewports[2]);
  st.gHeld = svg("g", { class: "gk-held" }, st.viewports[2]); // over the nodes: clickable
  st.empty = html("div", "gk-empty", stage, "waiting for peers…");
  st.tip = html("div", "gk-tooltip", stage);
  st.tip.hidden = true;
  st.tip.setAttribute("role", "tooltip");
}

// Everything one rendered mesh view holds: its model, lifetime, elements (buildHeader,
// buildClosedBanner, buildStage) and the graph as drawn.
function newState(model) {
  return {
    model,
    life: lifetime(),
    stream: null, // the reset / diff versions (diffStream)
    nodes: new Map(), // id -> {d, g, shape, label, badge, x, y, role}
    edges: new Map(), // id -> {d, line, label, cls, w, text, a, b, key, geo, path}
    adj: new Map(), // node id -> Set(edge id)
    pairs: new Map(), // pairKey -> {lo, hi, ids: Set(edge id)}: the wires of two peers
    placeAllDue: false, // a node came, went or jumped: any bundle may need a new bend
    anims: new Map(), // node id -> {fx, fy, tx, ty, t0}
    pulses: [], // {el, eid, back, t0}
    stats: null,
    W: 0,
    H: 0,
    T: { k: 1, x: 0, y: 0 },
    raf: 0,
    hover: null, // {type: "node"|"edge", id, px, py}
    selNode: model.get("selected_node") || "",
    selEdge: model.get("selected_edge") || "",
    drag: null,
    closed: !!model.get("closed"),
    held: new Map(), // frame -> {d, el, w}: held frames (step mode)
    heldOn: new Map(), // edge id -> [frame]: oldest first
    heldMore: new Map(), // "edge|sender" -> the "+N" chip standing for the frames not drawn
    heldTotal: 0,
    menu: null, // the step menu (stepMenu)
  };
}
const hovering = (st, type, id) => !!st.hover && st.hover.type === type && st.hover.id === id;

// ---------- geometry ----------
function scale(st) {
  const w = st.W || 600;
  const h = st.H || 300;
  const mx = Math.min(70, w * 0.12);
  const my = Math.min(40, h * 0.12);
  let sx = Math.max(10, w / 2 - mx);
  const sy = Math.max(10, h / 2 - my);
  if (sx > sy * 1.8) sx = sy * 1.8; // keep a circle roughly round on a wide stage
  return [w / 2, h / 2, sx, sy];
}
function worldOf(st, d) {
  const [cx, cy, sx, sy] = scale(st);
  const x = Number.isFinite(+d.x) ? +d.x : 0;
  const y = Number.isFinite(+d.y) ? +d.y : 0;
  return [cx + x * sx, cy + y * sy];
}
function setNodePos(n, x, y) {
  n.x = x;
  n.y = y;
  n.g.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
}
// The nodes a bundle of wires between A and B must keep clear of ([x, y, r] within reach),
// whether one stands on the chord, and the nearest one (its side decides the bend's).
function obstaclesOf(st, A, B, nWires, skipA, skipB) {
  const len = Math.hypot(B.x - A.x, B.y - A.y);
  const reach = 0.6 * len + WIRE_GAP * nWires + 20;
  const obstacles = [];
  let nearest = null;
  let nearD = Infinity;
  let blocked = false;
  for (const [id, n] of st.nodes) {
    if (id === skipA || id === skipB) continue;
    // a relay's square reaches ~1.42 r at its corners; then a margin and half a thick wire
    const r = (n.role === "relay" ? 1.42 : 1) * (n.r || 8) + NODE_MARGIN + 4;
    const d = segDist(n.x, n.y, A.x, A.y, B.x, B.y);
    if (d < r) blocked = true;
    if (d < reach + r) obstacles.push([n.x, n.y, r]);
    if (d < 3 * r && d < nearD) {
      nearD = d;
      nearest = n;
    }
  }
  return { obstacles, nearest, blocked };
}
// the bend of a bundle of wires between A and B (apex offsets `offs`): the least that
// keeps every wire clear of every other node, the best one found when none does
function bend(st, A, B, offs, skipA, skipB) {
  const len = Math.hypot(B.x - A.x, B.y - A.y);
  if (len < 1) return 0;
  const { obstacles, nearest, blocked } = obstaclesOf(st, A, B, offs.length, skipA, skipB);
  if (offs.length === 1 && !blocked) return 0;
  const nx = -(B.y - A.y) / len;
  const ny = (B.x - A.x) / len;
  const mx = (A.x + B.x) / 2;
  const my = (A.y + B.y) / 2;
  const side = nearest && (nearest.x - mx) * nx + (nearest.y - my) * ny > 1e-6 ? -1 : 1;
  let best = 0;
  let bestGap = -Infinity;
  const steps = Math.min(40, Math.floor((0.6 * len) / BEND_STEP));
  for (let k = 0; k <= steps; k++) {
    for (const shift of k ? [side * k * BEND_STEP, -side * k * BEND_STEP] : [0]) {
      const gap = slack(offs.map((o) => arc(A, B, shift + o)), obstacles);
      if (gap >= 0) return shift;
      if (gap > bestGap) {
        best = shift;
        bestGap = gap;
      }
    }
  }
  return best;
}
function hideEdge(e) {
  e.geo = null;
  e.line.setAttribute("visibility", "hidden");
  if (e.label) e.label.setAttribute("visibility", "hidden");
}
const f1 = (x) => x.toFixed(1);
function placeEdgeLabel(e, g) {
  let [x, y] = bez(g, 0.5);
  if (!g.straight) {
    // on a bent wire the plate stands just outside the arc, clear of what it bends around
    const dx = x - (g.x0 + g.x1) / 2;
    const dy = y - (g.y0 + g.y1) / 2;
    const len = Math.hypot(dx, dy) || 1;
    const out = ((e.plateW || 0) / 2) * Math.abs(dx / len) + 7 * Math.abs(dy / len) + 2;
    x += (dx / len) * out;
    y += (dy / len) * out;
  }
  e.label.removeAttribute("visibility");
  e.label.setAttribute("transform", `translate(${f1(x)},${f1(y)})`);
}
function setGeo(st, e, g) {
  e.geo = g;
  const start = `M${f1(g.x0)},${f1(g.y0)}`;
  const path = g.straight ? `${start}L${f1(g.x1)},${f1(g.y1)}` : `${start}Q${f1(g.cx)},${f1(g.cy)} ${f1(g.x1)},${f1(g.y1)}`;
  if (path !== e.path) {
    e.line.setAttribute("d", path);
    e.path = path;
  }
  e.line.removeAttribute("visibility");
  if (e.label) placeEdgeLabel(e, g);
  if (st.selEdge === e.d.id || hovering(st, "edge", e.d.id)) placeHalo(st);
  placeTokens(st, e.d.id);
}
// every wire of one pair: apart around the chord, the bundle bent off any third node
function placePair(st, key) {
  const p = st.pairs.get(key);
  if (!p) return;
  const ws = [];
  for (const id of p.ids) ws.push(st.edges.get(id));
  const A = st.nodes.get(p.lo);
  const B = st.nodes.get(p.hi);
  if (!A || !B) {
    for (const e of ws) hideEdge(e);
    return;
  }
  ws.sort(byWire);
  const offs = ws.map((_, i) => (i - (ws.length - 1) / 2) * WIRE_GAP);
  const shift = bend(st, A, B, offs, p.lo, p.hi);
  ws.forEach((e, i) => {
    const g = arc(A, B, shift + offs[i]);
    // drawn from the wire's own first end (a pulse from `a` runs t = 0 -> 1)
    setGeo(st, e, e.a === p.lo ? g : { x0: g.x1, y0: g.y1, cx: g.cx, cy: g.cy, x1: g.x0, y1: g.y0, straight: g.straight });
  });
}
function placeEdgesOf(st, id) {
  const set = st.adj.get(id);
  if (!set) return;
  const keys = new Set();
  for (const eid of set) keys.add(st.edges.get(eid).key);
  for (const k of keys) placePair(st, k);
}
function placeAll(st) {
  st.placeAllDue = false;
  for (const k of st.pairs.keys()) placePair(st, k);
}
function applyTransform(st) {
  const { T } = st;
  const tr = `translate(${T.x.toFixed(2)},${T.y.toFixed(2)}) scale(${T.k.toFixed(4)})`;
  for (const g of st.viewports) g.setAttribute("transform", tr);
  st.zoomLabel.textContent = `${Math.round(T.k * 100)}%`;
}
function placeHalo(st) {
  const { halo, hover } = st;
  const id = st.selEdge || (hover && hover.type === "edge" ? hover.id : "");
  const e = id && st.edges.get(id);
  if (!e || !e.geo) {
    halo.setAttribute("hidden", "");
    return;
  }
  halo.removeAttribute("hidden");
  halo.setAttribute("d", e.path);
  halo.style.strokeWidth = `${e.w + 6}px`;
}

// ---------- nodes ----------
const ROLES = ["relay", "peer", "external", "browser", "tapped"];
const roleOf = (d) => (ROLES.includes(d.role) ? d.role : "peer");
function makeShape(n, role) {
  if (n.shape) n.shape.remove();
  if (n.ring) n.ring.remove();
  let shape;
  let ring;
  if (role === "relay") {
    shape = svg("rect", { class: "gk-shape", x: -11, y: -11, width: 22, height: 22, rx: 5 });
    ring = svg("rect", { class: "gk-ring", x: -15, y: -15, width: 30, height: 30, rx: 7 });
    n.r = 11;
  } else if (role === "browser") {
    // a browser tab: a small window, wider than high
    shape = svg("rect", { class: "gk-shape", x: -10, y: -7, width: 20, height: 14, rx: 2 });
    ring = svg("rect", { class: "gk-ring", x: -14, y: -11, width: 28, height: 22, rx: 4 });
    n.r = 10;
  } else if (role === "tapped") {
    // a client seen through a tap (lab.tap): a diamond, its frames read off the wire
    shape = svg("path", { class: "gk-shape", d: "M0 -10 L10 0 L0 10 L-10 0 Z" });
    ring = svg("path", { class: "gk-ring", d: "M0 -14 L14 0 L0 14 L-14 0 Z" });
    n.r = 9;
  } else {
    const r = role === "external" ? 9 : 8;
    shape = svg("circle", { class: "gk-shape", r });
    ring = svg("circle", { class: "gk-ring", r: r + 4 });
    n.r = r;
  }
  n.g.insertBefore(ring, n.g.firstChild);
  n.g.insertBefore(shape, ring.nextSibling);
  n.shape = shape;
  n.ring = ring;
  n.role = role;
  n.labelSide = "";
  n.badge.setAttribute("cx", String(n.r * 0.75));
  n.badge.setAttribute("cy", String(-n.r * 0.75));
}
// where a label stands for each side: [x, y, text-anchor, dominant-baseline] (g: the gap
// from the centre, q: the same on a diagonal)
function labelPlace(side, g, q) {
  return {
    s: [0, g, "middle", "hanging"],
    n: [0, -g, "middle", "text-after-edge"],
    e: [g, 0, "start", "central"],
    w: [-g, 0, "end", "central"],
    se: [q, q, "start", "hanging"],
    sw: [-q, q, "end", "hanging"],
    ne: [q, -q, "start", "text-after-edge"],
    nw: [-q, -q, "end", "text-after-edge"],
  }[side];
}
// the label goes on the side facing away from the layout's centre, so the labels of a
// ring of peers do not run into their neighbours
function placeLabel(n, d) {
  const x = +d.x || 0;
  const y = +d.y || 0;
  const len = Math.hypot(x, y);
  let side = "s";
  if (len > 0.2) {
    // eight sectors of 45 degrees, starting east and turning clockwise (y grows downwards)
    const sector = Math.round(Math.atan2(y, x) / (Math.PI / 4));
    side = ["w", "nw", "n", "ne", "e", "se", "s", "sw", "w"][sector + 4];
  }
  const key = side + n.role;
  if (key === n.labelSide) return;
  n.labelSide = key;
  const g = n.r + 4;
  const pos = labelPlace(side, g, g * 0.72);
  const L = n.label;
  L.setAttribute("x", String(pos[0]));
  L.setAttribute("y", String(pos[1]));
  L.setAttribute("text-anchor", pos[2]);
  L.setAttribute("dominant-baseline", pos[3]);
}
// a relay whose every wire is closed has stopped: drawn greyed, its name says so
function stopped(st, id, role) {
  if (role !== "relay") return false;
  const set = st.adj.get(id);
  if (!set || !set.size) return false;
  for (const eid of set) {
    const s = st.edges.get(eid).d.state;
    if (s !== "closed" && s !== "failed") return false;
  }
  return true;
}
function nodeClass(st, d) {
  let c = `gk-node gk-role-${roleOf(d)}`;
  if (stopped(st, String(d.id), d.role)) c += " gk-stopped";
  if ((+d.errors || 0) > 0) c += " gk-has-errors";
  if (d.id === st.selNode) c += " gk-selected";
  if (hovering(st, "node", d.id)) c += " gk-hover";
  return c;
}
function newNode(st, id, d, tx, ty) {
  const g = svg("g", { "data-id": id }, st.gNodes);
  const n = { d, g, shape: null, ring: null, x: tx, y: ty, role: "", cls: "", text: null };
  n.label = svg("text", { class: "gk-node-label" }, g);
  n.badge = svg("circle", { class: "gk-node-badge", r: 3.5, hidden: "" }, g);
  st.nodes.set(id, n);
  setNodePos(n, tx, ty);
  st.placeAllDue = true; // a new node may stand on another pair's chord
  return n;
}
function moveNode(st, id, n, tx, ty, animate) {
  if (animate) {
    st.anims.set(id, { fx: n.x, fy: n.y, tx, ty, t0: performance.now() });
    kick(st);
  } else {
    st.anims.delete(id);
    setNodePos(n, tx, ty);
    st.placeAllDue = true;
  }
}
function upsertNode(st, d, animate) {
  if (!d || d.id == null) return;
  const id = String(d.id);
  let n = st.nodes.get(id);
  const [tx, ty] = worldOf(st, d);
  if (!n) n = newNode(st, id, d, tx, ty);
  else if (Math.abs(n.tx - tx) > 0.05 || Math.abs(n.ty - ty) > 0.05) moveNode(st, id, n, tx, ty, animate);
  n.d = d;
  n.tx = tx;
  n.ty = ty;
  const role = roleOf(d);
  if (role !== n.role) makeShape(n, role);
  placeLabel(n, d);
  refreshNodeLook(st, n);
  const bad = (+d.lost || 0) > 0 && !((+d.errors || 0) > 0);
  if (bad !== !n.badge.hasAttribute("hidden")) {
    if (bad) n.badge.removeAttribute("hidden");
    else n.badge.setAttribute("hidden", "");
  }
  if (hovering(st, "node", id)) showTip(st);
}
function removeNode(st, id) {
  const n = st.nodes.get(id);
  if (!n) return;
  n.g.remove();
  st.nodes.delete(id);
  st.anims.delete(id);
  placeEdgesOf(st, id); // hides edges that lost an end
  st.placeAllDue = true; // and bundles that bent around it may straighten
  if (hovering(st, "node", id)) hideTip(st);
}
function refreshNodeLook(st, n) {
  const d = n.d;
  const off = stopped(st, String(d.id), n.role);
  const text = `${d.label ?? d.id}${off ? " (stopped)" : ""}`;
  if (text !== n.text) {
    n.label.textContent = text;
    n.text = text;
  }
  const cls = nodeClass(st, d);
  if (cls !== n.cls) {
    n.g.setAttribute("class", cls);
    n.cls = cls;
    // greyed inline (views.css styles the rest of the node)
    n.g.style.opacity = off ? "0.55" : "";
    n.g.style.filter = off ? "grayscale(1)" : "";
  }
}
function refreshNodeClass(st, id) {
  const n = st.nodes.get(id);
  if (n) refreshNodeLook(st, n);
}

// ---------- edges ----------
function edgeClass(st, d) {
  const t = TRANSPORTS.includes(d.transport) ? d.transport : "unknown";
  const s = STATES.includes(d.state) ? d.state : "open";
  const hover = st.hover;
  let c = `gk-edge gk-t-${t} gk-s-${s}`;
  if (d.partitioned) c += " gk-partitioned";
  if (d.tapped) c += " gk-tapped";
  if (d.id === st.selEdge) c += " gk-selected";
  if (hovering(st, "edge", d.id)) c += " gk-hover";
  if (hover && hover.type === "node" && (d.a === hover.id || d.b === hover.id)) c += " gk-adjacent";
  return c;
}
function link(st, eid, a, b) {
  for (const n of [a, b]) {
    let s = st.adj.get(n);
    if (!s) st.adj.set(n, (s = new Set()));
    s.add(eid);
  }
}
function unlink(st, eid, a, b) {
  for (const n of [a, b]) {
    const s = st.adj.get(n);
    if (s) {
      s.delete(eid);
      if (!s.size) st.adj.delete(n);
    }
  }
}
function joinPair(st, id, a, b) {
  const key = pairKey(a, b);
  let p = st.pairs.get(key);
  if (!p) st.pairs.set(key, (p = { lo: a < b ? a : b, hi: a < b ? b : a, ids: new Set() }));
  p.ids.add(id);
  return key;
}
function leavePair(st, id, key) {
  const p = st.pairs.get(key);
  if (!p) return;
  p.ids.delete(id);
  if (p.ids.size) placePair(st, key); // the wires left close up around the chord
  else st.pairs.delete(key);
}
// The edge record of wire `id` between a and b: new, or moved to its (new) ends.
function edgeRecord(st, id, d, a, b) {
  let e = st.edges.get(id);
  if (!e) {
    // one path per wire: parallel wires between the same two peers are drawn apart
    const line = svg("path", { "data-id": id }, st.gEdges);
    e = { d, line, label: null, cls: "", w: 0, text: "", a, b, key: "", geo: null, path: "" };
    st.edges.set(id, e);
    link(st, id, a, b);
    e.key = joinPair(st, id, a, b);
  } else if (e.a !== a || e.b !== b) {
    unlink(st, id, e.a, e.b);
    const oldKey = e.key;
    e.a = a;
    e.b = b;
    link(st, id, a, b);
    e.key = joinPair(st, id, a, b);
    if (oldKey !== e.key) leavePair(st, id, oldKey);
  }
  return e;
}
// The fault plate of a memory wire (latency, loss, partition): made, changed or removed.
function drawEdgeLabel(st, e, text) {
  const d = e.d;
  if (text && !e.label) {
    // a plate behind the text keeps it readable where other edges cross
    e.label = svg("g", { class: "gk-edge-label", "data-id": String(d.id) }, st.gLabels);
    svg("rect", { class: "gk-edge-plate", rx: 3, height: 14, y: -7 }, e.label);
    svg("text", {}, e.label);
  }
  if (!e.label) return;
  if (!text) {
    e.label.remove();
    e.label = null;
    return;
  }
  const t = e.label.lastChild;
  t.textContent = text;
  e.label.setAttribute("class", `gk-edge-label${d.partitioned ? " gk-partitioned-label" : ""}`); // before measuring: bold is wider
  let w = 0;
  try {
    w = t.getComputedTextLength();
  } catch (_) {
    /* not rendered yet */
  }
  if (!(w > 0)) w = text.length * 5.6;
  const plate = e.label.firstChild;
  plate.setAttribute("width", (w + 8).toFixed(1));
  plate.setAttribute("x", (-(w + 8) / 2).toFixed(1));
  e.plateW = w + 8;
}
function upsertEdge(st, d) {
  if (!d || d.id == null) return;
  const id = String(d.id);
  const a = String(d.a);
  const b = String(d.b);
  const old = st.edges.get(id);
  const oldState = old ? old.d.state : null;
  const e = edgeRecord(st, id, d, a, b);
  e.d = d;
  refreshEdgeClass(st, id);
  const text = plateText(d);
  if (text !== e.text) {
    drawEdgeLabel(st, e, text);
    e.text = text;
  }
  placePair(st, e.key);
  if (oldState !== d.state) {
    refreshNodeClass(st, a); // a relay whose last open wire closed has stopped
    refreshNodeClass(st, b);
  }
  if (hovering(st, "edge", id)) showTip(st);
}
function removeEdge(st, id) {
  const e = st.edges.get(id);
  if (!e) return;
  e.line.remove();
  if (e.label) e.label.remove();
  unlink(st, id, e.a, e.b);
  st.edges.delete(id);
  leavePair(st, id, e.key);
  refreshNodeClass(st, e.a);
  refreshNodeClass(st, e.b);
  if (hovering(st, "edge", id)) hideTip(st);
  if (st.selEdge === id) placeHalo(st);
}
function refreshEdgeClass(st, id) {
  const e = st.edges.get(id);
  if (!e) return;
  const cls = edgeClass(st, e.d);
  if (cls !== e.cls) {
    e.line.setAttribute("class", cls);
    e.cls = cls;
  }
  const w = edgeWidth(e.d) + (id === st.selEdge ? 1.5 : 0);
  if (Math.abs(w - e.w) > 0.01) {
    e.line.style.strokeWidth = `${w.toFixed(2)}px`;
    e.w = w;
  }
}

// ---------- pulses & the animation loop ----------
function addPulse(st, p) {
  if (!Array.isArray(p) || st.pulses.length >= MAX_PULSES) return false;
  const [eid, from, kind] = p;
  const e = st.edges.get(String(eid));
  if (!e) return false;
  const f = String(from);
  const to = f === e.a ? e.b : f === e.b ? e.a : null;
  if (to === null || !st.nodes.has(f) || !st.nodes.has(to) || !e.geo) return false;
  const a = st.nodes.get(f);
  const attrs = { class: "gk-pulse", r: 4, cx: f1(a.x), cy: f1(a.y), fill: kindColor(kind), "data-kind": String(kind || ""), "data-edge": String(eid) };
  const el = svg("circle", attrs, st.gPulses);
  // it follows its own wire's curve: from `a` forwards along it, from `b` backwards
  st.pulses.push({ el, eid: String(eid), back: f !== e.a, t0: performance.now() });
  return true;
}
function kick(st) {
  if (!st.raf && !st.life.dead) st.raf = requestAnimationFrame(() => frame(st));
}
function slideNodes(st, now) {
  for (const [id, a] of st.anims) {
    const n = st.nodes.get(id);
    if (!n) {
      st.anims.delete(id);
      continue;
    }
    const p = Math.min(1, (now - a.t0) / MOVE_MS);
    const q = ease(p);
    setNodePos(n, a.fx + (a.tx - a.fx) * q, a.fy + (a.ty - a.fy) * q);
    placeEdgesOf(st, id);
    if (p >= 1) {
      st.anims.delete(id);
      st.placeAllDue = true;
    }
  }
}
function movePulses(st, now) {
  const pulses = st.pulses;
  let j = 0;
  for (let i = 0; i < pulses.length; i++) {
    const p = pulses[i];
    const t = (now - p.t0) / PULSE_MS;
    const e = st.edges.get(p.eid);
    if (t >= 1 || !e || !e.geo) {
      p.el.remove();
      continue;
    }
    const q = Math.max(0, t);
    const [x, y] = bez(e.geo, p.back ? 1 - q : q);
    p.el.setAttribute("cx", x.toFixed(1));
    p.el.setAttribute("cy", y.toFixed(1));
    pulses[j++] = p;
  }
  pulses.length = j;
}
function frame(st) {
  st.raf = 0;
  if (st.life.dead) return;
  const now = performance.now();
  slideNodes(st, now);
  if (st.placeAllDue && !st.anims.size) placeAll(st); // the slide is over: bend what now needs it
  movePulses(st, now);
  if (st.anims.size || st.pulses.length) kick(st);
}

// ---------- status ----------
function updateStatus(st) {
  const { stats } = st;
  const peers = stats && Number.isFinite(+stats.peers) ? +stats.peers : st.nodes.size;
  const links = stats && Number.isFinite(+stats.links) ? +stats.links : st.edges.size;
  let s = `${plural(peers, "peer", "peers")} · ${plural(links, "link", "links")}`;
  if (stats && +stats.partitions > 1) s += ` · ${fmtInt(stats.partitions)} partitions`;
  if (st.heldTotal > 0) s += ` · ${plural(st.heldTotal, "frame", "frames")} held`;
  if (st.closed) s += " · closed";
  if (st.status.textContent !== s) st.status.textContent = s;
  st.empty.hidden = st.nodes.size > 0;
  st.root.classList.toggle("gk-dense", st.edges.size > 300);
}

// ---------- messages: a reset, then diffs (or the `snapshot` trait) ----------
// ---------- held frames (step mode): tokens on their wires ----------
const labelOf = (st, id) => {
  const n = st.nodes.get(String(id));
  return n ? String(n.d.label ?? id) : String(id);
};
function tokenText(d) {
  const kinds = Array.isArray(d.kinds) ? d.kinds : [];
  const k = kinds.length ? `${kinds[0]}${kinds.length > 1 ? `+${kinds.length - 1}` : ""}` : "empty";
  return `${d.frame} ${k}`;
}
function newToken(st, d) {
  const kinds = Array.isArray(d.kinds) ? d.kinds : [];
  const text = tokenText(d);
  const w = Math.round(text.length * 5.4 + 10);
  const el = svg("g", { class: `gk-held-token${d.copy_of ? " gk-copy" : ""}`, "data-frame": String(d.frame), "data-edge": String(d.edge), "data-kind": String(kinds[0] || ""), role: "button" }, st.gHeld);
  el.setAttribute("aria-label", `held frame ${text}`);
  svg("rect", { x: -w / 2, y: -TOKEN_H / 2, width: w, height: TOKEN_H, rx: 4, stroke: kindColor(kinds[0]) }, el);
  svg("text", { x: 0, y: 0.5 }, el).textContent = text;
  return { d, el, w };
}
// The whole set of held frames (a reset or a diff sends all of them when they change).
// Returns the new ones' pulses to hold back: "edge|from|kind" -> how many.
function setHeld(st, list, total) {
  const keep = new Set();
  const fresh = new Map();
  const edges = new Set(st.heldOn.keys());
  st.heldOn.clear();
  for (const d of list) {
    if (!d || d.frame == null) continue;
    const f = String(d.frame);
    keep.add(f);
    let tok = st.held.get(f);
    if (!tok) {
      st.held.set(f, (tok = newToken(st, d)));
      for (const k of Array.isArray(d.kinds) ? d.kinds : []) {
        const key = `${d.edge}|${d.from}|${k}`;
        fresh.set(key, (fresh.get(key) || 0) + 1);
      }
    }
    tok.d = d;
    const eid = String(d.edge);
    if (!st.heldOn.has(eid)) st.heldOn.set(eid, []);
    st.heldOn.get(eid).push(f);
    edges.add(eid);
  }
  for (const [f, tok] of st.held) {
    if (keep.has(f)) continue;
    tok.el.remove();
    st.held.delete(f);
    if (hovering(st, "token", f)) setHover(st, null);
  }
  st.heldTotal = Number.isFinite(+total) ? +total : st.held.size;
  st.root.dataset.held = String(st.heldTotal);
  if (st.menu && st.menu.frame && !keep.has(st.menu.frame) && !st.menu.req) st.menu.frame = ""; // gone: the answer stays shown
  for (const [key, chip] of st.heldMore) {
    if (!st.heldOn.has(key.split("|")[0])) {
      chip.el.remove();
      st.heldMore.delete(key);
    }
  }
  for (const eid of edges) placeTokens(st, eid);
  return fresh;
}
// points along a wire's curve with the length so far: [[x, y, len], ...]
function measureCurve(g) {
  const pts = [];
  let len = 0;
  let [px, py] = bez(g, 0);
  for (let i = 0; i <= 32; i++) {
    const [x, y] = bez(g, i / 32);
    len += Math.hypot(x - px, y - py);
    pts.push([x, y, len]);
    px = x;
    py = y;
  }
  return pts;
}
function pointAlong(pts, dist) {
  for (let i = 1; i < pts.length; i++) {
    const [x1, y1, l1] = pts[i];
    if (l1 >= dist) {
      const [x0, y0, l0] = pts[i - 1];
      const q = l1 > l0 ? (dist - l0) / (l1 - l0) : 0;
      return [x0 + (x1 - x0) * q, y0 + (y1 - y0) * q];
    }
  }
  const last = pts[pts.length - 1];
  return [last[0], last[1]];
}
// The tokens of wire `eid`, each in its sender's half (oldest nearest the sender); hidden
// while the wire is not drawn. A token takes as much of the wire as its box spans along the
// wire's direction (its height on an upright wire), and the middle is left to the wire's
// plate. When they do not all fit (a wire held under live traffic holds dozens), the oldest
// that fit are drawn whole and a "+N" chip stands for the rest: overlapping tokens could be
// neither read nor clicked one by one (the wire's label and the flow still count them all).
function moreChip(st, key, n) {
  let chip = st.heldMore.get(key);
  if (!chip) {
    const el = svg("g", { class: "gk-held-token gk-more", "data-edge": key.split("|")[0] }, st.gHeld);
    const rect = svg("rect", { x: 0, y: -TOKEN_H / 2, height: TOKEN_H, rx: 4 }, el);
    const text = svg("text", { x: 0, y: 0.5 }, el);
    st.heldMore.set(key, (chip = { el, rect, text, w: 0, n: -1 }));
  }
  if (chip.n !== n) {
    chip.n = n;
    chip.text.textContent = `+${n} held`;
    chip.w = Math.round(chip.text.textContent.length * 5.4 + 10);
    chip.rect.setAttribute("x", String(-chip.w / 2));
    chip.rect.setAttribute("width", String(chip.w));
    chip.el.setAttribute("aria-label", `${n} more held frames on this wire`);
  }
  return chip;
}
function placeTokens(st, eid) {
  const frames = st.heldOn.get(eid);
  if (!frames || !frames.length) return;
  const e = st.edges.get(eid);
  const toks = frames.map((f) => st.held.get(f)).filter(Boolean);
  if (!e || !e.geo) {
    for (const t of toks) t.el.setAttribute("visibility", "hidden");
    for (const [key, chip] of st.heldMore) {
      if (key.startsWith(`${eid}|`)) chip.el.setAttribute("visibility", "hidden");
    }
    return;
  }
  const g = e.geo;
  const pts = measureCurve(g);
  const L = pts[pts.length - 1][2];
  const chord = Math.hypot(g.x1 - g.x0, g.y1 - g.y0) || 1;
  const cos = Math.abs(g.x1 - g.x0) / chord;
  const sin = Math.abs(g.y1 - g.y0) / chord;
  const span = (t) => t.w * cos + TOKEN_H * sin;
  const plate = e.label ? ((e.plateW || 40) * cos + 14 * sin) / 2 : 0;
  for (const side of [e.a, e.b]) {
    const mine = toks.filter((t) => String(t.d.from) === side);
    if (!mine.length) {
      const stale = st.heldMore.get(`${eid}|${side}`);
      if (stale) {
        stale.el.remove();
        st.heldMore.delete(`${eid}|${side}`);
      }
      continue;
    }
    const n = st.nodes.get(side);
    const start = ((n && n.r) || 8) + 5;
    const room = Math.max(0, L / 2 - plate - 4 - start);
    const key = `${eid}|${side}`;
    const chipSpan = (n) => span({ w: Math.round(`+${n} held`.length * 5.4 + 10) });
    // how many of the oldest fit whole, leaving room for the chip when some do not
    let shown = mine.length;
    let used = mine.reduce((sum, t) => sum + span(t) + TOKEN_GAP, 0) - TOKEN_GAP;
    while (shown > 1 && used + (shown < mine.length ? chipSpan(mine.length - shown) + TOKEN_GAP : 0) > room) {
      shown -= 1;
      used -= span(mine[shown]) + TOKEN_GAP;
    }
    let dist = start;
    const put = (el, w) => {
      const c = dist + w / 2;
      const [x, y] = pointAlong(pts, side === e.a ? c : L - c);
      el.removeAttribute("visibility");
      el.setAttribute("transform", `translate(${f1(x)},${f1(y)})`);
      dist += w + TOKEN_GAP;
    };
    mine.forEach((t, i) => (i < shown ? put(t.el, span(t)) : t.el.setAttribute("visibility", "hidden")));
    if (shown < mine.length) {
      const chip = moreChip(st, key, mine.length - shown);
      put(chip.el, span(chip));
    } else if (st.heldMore.has(key)) {
      st.heldMore.get(key).el.remove();
      st.heldMore.delete(key);
    }
  }
}
function tokenAt(st, ev) {
  const g = closest(ev, ".gk-held-token");
  return g && st.svgEl.contains(g) ? g.getAttribute("data-frame") : null;
}
function openMenu(st, frame, px, py) {
  const tok = st.held.get(frame);
  if (!tok || !st.menu) return;
  setHover(st, null);
  if (st.menu.open(frame, heldText(tok.d, (id) => labelOf(st, id)), px, py)) bump(st.root);
}

function applyReset(st, msg, animate) {
  const ns = Array.isArray(msg.nodes) ? msg.nodes : [];
  const es = Array.isArray(msg.edges) ? msg.edges : [];
  const keepN = new Set(ns.map((d) => String(d.id)));
  const keepE = new Set(es.map((d) => String(d.id)));
  for (const id of [...st.edges.keys()]) if (!keepE.has(id)) removeEdge(st, id);
  for (const id of [...st.nodes.keys()]) if (!keepN.has(id)) removeNode(st, id);
  for (const d of ns) upsertNode(st, d, animate);
  for (const d of es) upsertEdge(st, d);
  if (msg.stats) st.stats = msg.stats;
  if (st.placeAllDue && !st.anims.size) placeAll(st);
  setHeld(st, Array.isArray(msg.held) ? msg.held : [], msg.held_total);
  updateStatus(st);
}
function applyDiff(st, msg) {
  for (const id of msg.gone_edges || []) removeEdge(st, String(id));
  for (const id of msg.gone_nodes || []) removeNode(st, String(id));
  for (const d of msg.nodes || []) upsertNode(st, d, true);
  for (const d of msg.edges || []) upsertEdge(st, d);
  // a frame held as soon as said stops at its token: no dot runs on to the receiver
  const stopped = Array.isArray(msg.held) ? setHeld(st, msg.held, msg.held_total) : new Map();
  let added = false;
  for (const p of msg.pulses || []) {
    if (st.pulses.length >= MAX_PULSES) break;
    const key = Array.isArray(p) ? `${p[0]}|${p[1]}|${p[2]}` : "";
    if (stopped.get(key) > 0) {
      stopped.set(key, stopped.get(key) - 1);
      continue;
    }
    added = addPulse(st, p) || added;
  }
  if (added) kick(st);
  if (st.placeAllDue && !st.anims.size) placeAll(st);
  if (msg.stats) st.stats = msg.stats;
  updateStatus(st);
}
function onMsg(st, msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.type === "reset") {
    st.stream.reset(msg);
    bump(st.root);
  } else if (msg.type === "diff" && st.stream.diff(msg)) bump(st.root);
  else if (msg.type === "stepped" && st.menu && st.menu.answered(msg)) bump(st.root);
}
function onSnapshot(st) {
  const s = st.model.get("snapshot");
  if (!s || typeof s !== "object" || !Array.isArray(s.nodes)) return;
  const sv = Number.isFinite(+s.v) ? +s.v : -1;
  const v = st.stream.v;
  if (v < 0 || sv > v) {
    st.stream.adopt(s);
    bump(st.root);
  }
}

// ---------- tooltip ----------
function tipRow(table, k, val) {
  const tr = html("tr", "", table);
  html("td", "", tr, k);
  html("td", "", tr, val);
}
function nodeTip(st, tip, n, id) {
  const d = n.d;
  html("div", "gk-tt-title", tip, `${d.label ?? d.id}`);
  const t = html("table", "", tip);
  tipRow(t, "pid", String(d.pid ?? d.id));
  tipRow(t, "role", String(d.role || "peer"));
  if (d.agent) tipRow(t, "runs", String(d.agent));
  for (const k of ["said", "heard", "dropped", "lost", "puts", "errors"]) tipRow(t, k, fmtInt(d[k] || 0));
  const deg = st.adj.get(id);
  tipRow(t, "links", fmtInt(deg ? deg.size : 0));
}
function edgeTip(st, tip, e) {
  const d = e.d;
  const an = st.nodes.get(e.a);
  const bn = st.nodes.get(e.b);
  html("div", "gk-tt-title", tip, `${an ? an.d.label ?? e.a : e.a} ↔ ${bn ? bn.d.label ?? e.b : e.b}`);
  const t = html("table", "", tip);
  tipRow(t, "transport", String(d.transport ?? "?"));
  if (d.tag) tipRow(t, "wire", String(d.tag));
  tipRow(t, "state", String(d.state ?? "?"));
  const together = st.pairs.get(e.key);
  if (together && together.ids.size > 1) tipRow(t, "wires", `${together.ids.size} between these two`);
  tipRow(t, "messages", fmtInt(d.count || 0));
  tipRow(t, "rate", `${(+d.rate || 0).toFixed(1)}/s`);
  tipRow(t, "lost", fmtInt(d.lost || 0));
  if (d.latency != null) tipRow(t, "latency", `${Math.round(+d.latency * 1000)} ms`);
  if (d.loss != null) tipRow(t, "loss", `${+(+d.loss * 100).toFixed(1)}%`);
  if (d.partitioned) tipRow(t, "fault", "partitioned");
  if (d.tapped) tipRow(t, "tapped by", String(d.tapped)); // frames seen on the wire, no "heard"
  if (+d.held > 0) tipRow(t, "held", `${fmtInt(d.held)} frame${+d.held === 1 ? "" : "s"} in flight`);
}
function tokenTip(st, tip, tok) {
  html("div", "gk-tt-title", tip, heldText(tok.d, (id) => labelOf(st, id)));
  const t = html("table", "", tip);
  tipRow(t, "state", "held: in flight, not yet arrived");
  tipRow(t, "held at", `+${(+tok.d.t || 0).toFixed(3)} s`);
  html("div", "gk-muted", tip, st.menu && st.menu.can() ? "click: deliver / drop / duplicate" : "a replay: it shows, it does not step");
}
function showTip(st) {
  const { hover, tip, stage } = st;
  if (!hover) return hideTip(st);
  tip.textContent = "";
  const thing = hover.type === "node" ? st.nodes.get(hover.id) : hover.type === "token" ? st.held.get(hover.id) : st.edges.get(hover.id);
  if (!thing) return hideTip(st);
  if (hover.type === "node") nodeTip(st, tip, thing, hover.id);
  else if (hover.type === "token") tokenTip(st, tip, thing);
  else edgeTip(st, tip, thing);
  tip.hidden = false;
  const sw = stage.clientWidth;
  const sh = stage.clientHeight;
  const tw = tip.offsetWidth;
  const th = tip.offsetHeight;
  let x = hover.px + 14;
  let y = hover.py + 14;
  if (x + tw > sw - 4) x = Math.max(4, hover.px - tw - 10);
  if (y + th > sh - 4) y = Math.max(4, hover.py - th - 10);
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
}
function hideTip(st) {
  st.tip.hidden = true;
}
// Re-classes what hovering `h` marks: the node and its edges (and the stage's focus), or the edge.
function markHover(st, h, on) {
  if (!h) return;
  if (h.type === "token") {
    const tok = st.held.get(h.id);
    if (tok) tok.el.classList.toggle("gk-hover", on);
    return;
  }
  if (h.type === "edge") return refreshEdgeClass(st, h.id);
  refreshNodeClass(st, h.id);
  st.stage.classList.toggle("gk-focus", on);
  const s = st.adj.get(h.id);
  if (s) for (const eid of s) refreshEdgeClass(st, eid);
}
function setHover(st, h) {
  const old = st.hover;
  const same = old && h && old.type === h.type && old.id === h.id;
  st.hover = h;
  if (!same) {
    markHover(st, old, false);
    markHover(st, h, true);
    placeHalo(st);
  }
  if (h) showTip(st);
  else hideTip(st);
}

// ---------- pointer: hover, pan, click, zoom ----------
function local(st, ev) {
  const r = st.svgEl.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
}
// the wire under the pointer: the nearest curve within a few pixels (each parallel wire
// is its own target)
function nearestEdge(st, px, py) {
  const { T } = st;
  const wx = (px - T.x) / T.k;
  const wy = (py - T.y) / T.k;
  let best = null;
  let bestD = Infinity;
  for (const [id, e] of st.edges) {
    const g = e.geo;
    if (!g) continue;
    const tol = 6 / T.k + e.w / 2;
    if (wx < Math.min(g.x0, g.x1, g.cx) - tol || wx > Math.max(g.x0, g.x1, g.cx) + tol) continue;
    if (wy < Math.min(g.y0, g.y1, g.cy) - tol || wy > Math.max(g.y0, g.y1, g.cy) + tol) continue;
    const dd = curveDist(g, wx, wy);
    if (dd <= tol && dd < bestD) {
      best = id;
      bestD = dd;
    }
  }
  return best;
}
function nodeAt(st, ev) {
  const g = closest(ev, ".gk-node");
  return g && st.svgEl.contains(g) ? g.getAttribute("data-id") : null;
}
function select(st, node, edge) {
  const oldN = st.selNode;
  const oldE = st.selEdge;
  st.selNode = node;
  st.selEdge = edge;
  if (oldN !== node) {
    refreshNodeClass(st, oldN);
    refreshNodeClass(st, node);
  }
  if (oldE !== edge) {
    refreshEdgeClass(st, oldE);
    refreshEdgeClass(st, edge);
  }
  placeHalo(st);
  save(st.model, { selected_node: node, selected_edge: edge });
}
function onPointerDown(st, ev) {
  if (ev.button !== 0) return;
  const [px, py] = local(st, ev);
  st.drag = { px, py, tx: st.T.x, ty: st.T.y, id: ev.pointerId, moved: false, node: nodeAt(st, ev), frame: tokenAt(st, ev) };
  try {
    st.svgEl.setPointerCapture(ev.pointerId);
  } catch (_) {
    /* synthetic events */
  }
}
function onPointerMove(st, ev) {
  const [px, py] = local(st, ev);
  const drag = st.drag;
  if (drag && drag.id === ev.pointerId) {
    const dx = px - drag.px;
    const dy = py - drag.py;
    if (!drag.moved && dx * dx + dy * dy > 9) {
      drag.moved = true;
      st.svgEl.classList.add("gk-panning");
      setHover(st, null);
    }
    if (drag.moved) {
      st.T.x = drag.tx + dx;
      st.T.y = drag.ty + dy;
      applyTransform(st);
    }
    return;
  }
  const frame = tokenAt(st, ev);
  if (frame) return setHover(st, { type: "token", id: frame, px, py });
  const nid = nodeAt(st, ev);
  if (nid) return setHover(st, { type: "node", id: nid, px, py });
  const eid = nearestEdge(st, px, py);
  if (eid) return setHover(st, { type: "edge", id: eid, px, py });
  setHover(st, null);
}
function onPointerUp(st, ev) {
  const d = st.drag;
  if (!d || d.id !== ev.pointerId) return;
  st.drag = null;
  st.svgEl.classList.remove("gk-panning");
  if (d.moved) return;
  const [px, py] = local(st, ev);
  const frame = d.frame || tokenAt(st, ev); // captured: the up event's target is the svg
  if (frame) return openMenu(st, frame, px, py);
  if (st.menu) st.menu.close();
  const nid = d.node || nodeAt(st, ev);
  // as docs/views.md says: a node click sets selected_node, an edge click selected_edge
  // (each leaves the other alone: the dashboard filters the flow by the edge), the
  // background clears both
  if (nid) return select(st, nid, st.selEdge);
  const eid = nearestEdge(st, px, py);
  if (eid) return select(st, st.selNode, eid);
  select(st, "", "");
}
function onWheel(st, ev) {
  ev.preventDefault();
  const { T } = st;
  const [px, py] = local(st, ev);
  const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
  const f = Math.exp(-ev.deltaY * unit * 0.0015);
  const k = Math.min(MAX_K, Math.max(MIN_K, T.k * f));
  T.x = px - ((px - T.x) * k) / T.k;
  T.y = py - ((py - T.y) * k) / T.k;
  T.k = k;
  applyTransform(st);
  if (st.hover) setHover(st, null);
}
function fit(st) {
  const { T } = st;
  if (!st.nodes.size) {
    T.k = 1;
    T.x = 0;
    T.y = 0;
    return applyTransform(st);
  }
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const n of st.nodes.values()) {
    const x = n.tx ?? n.x;
    const y = n.ty ?? n.y;
    x0 = Math.min(x0, x - 64); // room for a label either side
    x1 = Math.max(x1, x + 64);
    y0 = Math.min(y0, y - 30);
    y1 = Math.max(y1, y + 30);
  }
  const w = st.W || 600;
  const h = st.H || 300;
  const k = Math.min(2, Math.max(MIN_K, Math.min(w / (x1 - x0), h / (y1 - y0))));
  T.k = k;
  T.x = w / 2 - ((x0 + x1) / 2) * k;
  T.y = h / 2 - ((y0 + y1) / 2) * k;
  applyTransform(st);
}
function listenPointer(st) {
  const { life, svgEl } = st;
  life.listen(svgEl, "pointerdown", (ev) => onPointerDown(st, ev));
  life.listen(svgEl, "pointermove", (ev) => onPointerMove(st, ev));
  life.listen(svgEl, "pointerup", (ev) => onPointerUp(st, ev));
  life.listen(svgEl, "pointercancel", (ev) => onPointerUp(st, ev));
  life.listen(svgEl, "pointerleave", () => st.drag || setHover(st, null));
  life.listen(svgEl, "wheel", (ev) => onWheel(st, ev), { passive: false });
  life.listen(st.fitBtn, "click", () => fit(st));
}

// ---------- size ----------
function relayout(st) {
  for (const [id, n] of st.nodes) {
    const [tx, ty] = worldOf(st, n.d);
    st.anims.delete(id);
    n.tx = tx;
    n.ty = ty;
    setNodePos(n, tx, ty);
  }
  placeAll(st);
  for (const p of st.pulses) p.el.remove();
  st.pulses.length = 0;
}
function measure(st) {
  const w = st.stage.clientWidth;
  const h = st.stage.clientHeight;
  if (w > 0 && h > 0 && (w !== st.W || h !== st.H)) {
    st.W = w;
    st.H = h;
    relayout(st);
  }
}

// ---------- traits ----------
function onHeight(st) {
  const h = +st.model.get("height") || 420;
  st.root.style.height = `${h}px`;
  measure(st);
}
function onTitle(st) {
  const text = st.model.get("title") || "Mesh";
  st.title.textContent = st.closed ? `${text} (closed)` : text;
}
function onClosed(st) {
  const closed = (st.closed = !!st.model.get("closed"));
  st.closedBox.hidden = !closed;
  st.root.classList.toggle("gk-closed", closed);
  st.root.dataset.closed = closed ? "1" : "0";
  onTitle(st);
  updateStatus(st);
}
function onSelected(st) {
  const n = st.model.get("selected_node") || "";
  const e = st.model.get("selected_edge") || "";
  if (n !== st.selNode) {
    const old = st.selNode;
    st.selNode = n;
    refreshNodeClass(st, old);
    refreshNodeClass(st, n);
  }
  if (e !== st.selEdge) {
    const old = st.selEdge;
    st.selEdge = e;
    refreshEdgeClass(st, old);
    refreshEdgeClass(st, e);
    placeHalo(st);
  }
}
function listenModel(st) {
  const { life, model } = st;
  const counted = (fn) => () => (fn(st), bump(st.root));
  life.listen(model, "change:height", counted(onHeight));
  life.listen(model, "change:title", counted(onTitle));
  life.listen(model, "change:closed", counted(onClosed));
  life.listen(model, "change:selected_node", counted(onSelected));
  life.listen(model, "change:selected_edge", counted(onSelected));
  life.listen(model, "change:snapshot", () => onSnapshot(st));
  life.listen(model, "msg:custom", (msg) => onMsg(st, msg));
}

function render({ model, el }) {
  const st = newState(model);
  const { life } = st;
  st.root = viewRoot(el, "mesh", "gk-mesh");
  buildHeader(st);
  errorBanner(model, st.root, null, life);
  buildClosedBanner(st);
  buildStage(st);
  st.menu = stepMenu(model, st.stage, life);
  st.stream = diffStream(
    model,
    (msg, again) => applyReset(st, msg, again),
    (msg) => applyDiff(st, msg),
  );
  observeSize(life, [st.stage], () => measure(st));
  listenModel(st);
  listenPointer(st);
  life.later(() => {
    if (st.raf) cancelAnimationFrame(st.raf);
    st.raf = 0;
  });

  onHeight(st);
  onClosed(st);
  applyTransform(st);
  onSnapshot(st);
  updateStatus(st);
  measure(st);
  st.stream.hello();

  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
