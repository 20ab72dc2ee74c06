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

import { NS, html, svg, errorBanner, kindColor } from "./common.js";

const TRANSPORTS = ["ws", "dc", "memory"];
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
const CLOSED_TEXT = "Lab closed — this view no longer updates";

const fmtInt = (n) => (Number.isFinite(+n) ? Math.round(+n).toLocaleString("en-US") : "–");
const plural = (n, one, many) => `${fmtInt(n)} ${+n === 1 ? one : many}`;
const ease = (p) => (p < 0.5 ? 4 * p * p * p : 1 - Math.pow(-2 * p + 2, 3) / 2);

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

function render({ model, el }) {
  // ---------- DOM ----------
  const root = html("div", "gk-view gk-mesh", el);
  root.dataset.view = "mesh";
  root.dataset.updates = "0";
  const header = html("div", "gk-header", root);
  const title = html("span", "gk-title", header);
  legend(header);
  html("span", "gk-spring", header);
  const zoomLabel = html("span", "gk-zoom-label", header, "100%");
  const fitBtn = html("button", "gk-fit", header, "fit");
  fitBtn.type = "button";
  fitBtn.title = "fit the graph to the view";
  const status = html("div", "gk-status", root, "0 peers · 0 links");
  status.setAttribute("role", "status");
  const offError = errorBanner(model, root, null, () => bump());
  // the Lab closed: what is drawn stays, plainly marked as no longer live
  const closedBox = html("div", "gk-closed-banner", root, CLOSED_TEXT);
  closedBox.setAttribute("role", "status");
  Object.assign(closedBox.style, {
    padding: "4px 10px",
    fontWeight: "600",
    color: "var(--gk-fg)",
    background: "color-mix(in srgb, var(--gk-fg) 12%, var(--gk-bg))",
    borderBottom: "1px solid var(--gk-border)",
  });
  closedBox.hidden = true;
  const stage = html("div", "gk-stage", root);
  // Three stacked SVGs, each its own compositing layer: moving dots repaint only theirs,
  // never the 1,500 edges below them. The top one takes the pointer.
  const edgeSvg = svg("svg", { class: "gk-mesh-layer", "aria-hidden": "true" }, stage);
  const pulseSvg = svg("svg", { class: "gk-mesh-layer", "aria-hidden": "true" }, stage);
  const svgEl = svg("svg", { class: "gk-svg", role: "img", "aria-label": "mesh graph" }, stage);
  const viewports = [edgeSvg, pulseSvg, svgEl].map((s) => svg("g", { class: "gk-viewport" }, s));
  const gEdges = svg("g", { class: "gk-edges" }, viewports[0]);
  const halo = svg("path", { class: "gk-edge-halo", hidden: "" }, gEdges);
  const gLabels = svg("g", { class: "gk-edge-labels" }, viewports[0]);
  const gPulses = svg("g", { class: "gk-pulses" }, viewports[1]);
  const gNodes = svg("g", { class: "gk-nodes" }, viewports[2]);
  const empty = html("div", "gk-empty", stage, "waiting for peers…");
  const tip = html("div", "gk-tooltip", stage);
  tip.hidden = true;
  tip.setAttribute("role", "tooltip");

  // ---------- state ----------
  const nodes = new Map(); // id -> {d, g, shape, label, badge, x, y, role}
  const edges = new Map(); // id -> {d, line, label, cls, w, text, a, b, key, geo, path}
  const adj = new Map(); // node id -> Set(edge id)
  const pairs = new Map(); // pairKey -> {lo, hi, ids: Set(edge id)}: the wires of two peers
  let placeAllDue = false; // a node came, went or jumped: any bundle may need a new bend
  const anims = new Map(); // node id -> {fx, fy, tx, ty, t0}
  const pulses = []; // {el, from, to, t0}
  let v = -1;
  let helloAt = -1e9;
  let awaiting = false; // a hello was sent and no reset came yet
  let stats = null;
  let W = 0;
  let H = 0;
  const T = { k: 1, x: 0, y: 0 };
  let raf = 0;
  let hover = null; // {type: "node"|"edge", id, px, py}
  let selNode = model.get("selected_node") || "";
  let selEdge = model.get("selected_edge") || "";
  let drag = null;
  let dead = false;
  let closed = !!model.get("closed");

  const bump = () => {
    root.dataset.updates = String((+root.dataset.updates || 0) + 1);
  };

  // ---------- geometry ----------
  function scale() {
    const w = W || 600;
    const h = H || 300;
    const mx = Math.min(70, w * 0.12);
    const my = Math.min(40, h * 0.12);
    let sx = Math.max(10, w / 2 - mx);
    const sy = Math.max(10, h / 2 - my);
    if (sx > sy * 1.8) sx = sy * 1.8; // keep a circle roughly round on a wide stage
    return [w / 2, h / 2, sx, sy];
  }
  function worldOf(d) {
    const [cx, cy, sx, sy] = scale();
    const x = Number.isFinite(+d.x) ? +d.x : 0;
    const y = Number.isFinite(+d.y) ? +d.y : 0;
    return [cx + x * sx, cy + y * sy];
  }
  function setNodePos(n, x, y) {
    n.x = x;
    n.y = y;
    n.g.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
  }
  // the bend of a bundle of wires between A and B (apex offsets `offs`): the least that
  // keeps every wire clear of every other node, the best one found when none does
  function bend(A, B, offs, skipA, skipB) {
    const len = Math.hypot(B.x - A.x, B.y - A.y);
    if (len < 1) return 0;
    const nx = -(B.y - A.y) / len;
    const ny = (B.x - A.x) / len;
    const mx = (A.x + B.x) / 2;
    const my = (A.y + B.y) / 2;
    const reach = 0.6 * len + WIRE_GAP * offs.length + 20;
    const obstacles = [];
    let nearest = null;
    let nearD = Infinity;
    let blocked = false;
    for (const [id, n] of nodes) {
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
    if (offs.length === 1 && !blocked) return 0;
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
  function setGeo(e, g) {
    e.geo = g;
    const f = (x) => x.toFixed(1);
    const path = g.straight ? `M${f(g.x0)},${f(g.y0)}L${f(g.x1)},${f(g.y1)}` : `M${f(g.x0)},${f(g.y0)}Q${f(g.cx)},${f(g.cy)} ${f(g.x1)},${f(g.y1)}`;
    if (path !== e.path) {
      e.line.setAttribute("d", path);
      e.path = path;
    }
    e.line.removeAttribute("visibility");
    if (e.label) {
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
      e.label.setAttribute("transform", `translate(${f(x)},${f(y)})`);
    }
    if (selEdge === e.d.id || (hover && hover.type === "edge" && hover.id === e.d.id)) placeHalo();
  }
  // every wire of one pair: apart around the chord, the bundle bent off any third node
  function placePair(key) {
    const p = pairs.get(key);
    if (!p) return;
    const ws = [];
    for (const id of p.ids) ws.push(edges.get(id));
    const A = nodes.get(p.lo);
    const B = nodes.get(p.hi);
    if (!A || !B) {
      for (const e of ws) hideEdge(e);
      return;
    }
    ws.sort(byWire);
    const offs = ws.map((_, i) => (i - (ws.length - 1) / 2) * WIRE_GAP);
    const shift = bend(A, B, offs, p.lo, p.hi);
    ws.forEach((e, i) => {
      const g = arc(A, B, shift + offs[i]);
      // drawn from the wire's own first end (a pulse from `a` runs t = 0 -> 1)
      setGeo(e, e.a === p.lo ? g : { x0: g.x1, y0: g.y1, cx: g.cx, cy: g.cy, x1: g.x0, y1: g.y0, straight: g.straight });
    });
  }
  function placeEdgesOf(id) {
    const set = adj.get(id);
    if (!set) return;
    const keys = new Set();
    for (const eid of set) keys.add(edges.get(eid).key);
    for (const k of keys) placePair(k);
  }
  function placeAll() {
    placeAllDue = false;
    for (const k of pairs.keys()) placePair(k);
  }
  function applyTransform() {
    const tr = `translate(${T.x.toFixed(2)},${T.y.toFixed(2)}) scale(${T.k.toFixed(4)})`;
    for (const g of viewports) g.setAttribute("transform", tr);
    zoomLabel.textContent = `${Math.round(T.k * 100)}%`;
  }
  function placeHalo() {
    const id = selEdge || (hover && hover.type === "edge" ? hover.id : "");
    const e = id && edges.get(id);
    if (!e || !e.geo) {
      halo.setAttribute("hidden", "");
      return;
    }
    halo.removeAttribute("hidden");
    halo.setAttribute("d", e.path);
    halo.style.strokeWidth = `${e.w + 6}px`;
  }

  // ---------- nodes ----------
  function makeShape(n, role) {
    if (n.shape) n.shape.remove();
    if (n.ring) n.ring.remove();
    let shape;
    let ring;
    if (role === "relay") {
      shape = svg("rect", { class: "gk-shape", x: -11, y: -11, width: 22, height: 22, rx: 5 });
      ring = svg("rect", { class: "gk-ring", x: -15, y: -15, width: 30, height: 30, rx: 7 });
      n.r = 11;
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
    const q = g * 0.72;
    const L = n.label;
    const pos = {
      s: [0, g, "middle", "hanging"],
      n: [0, -g, "middle", "text-after-edge"],
      e: [g, 0, "start", "central"],
      w: [-g, 0, "end", "central"],
      se: [q, q, "start", "hanging"],
      sw: [-q, q, "end", "hanging"],
      ne: [q, -q, "start", "text-after-edge"],
      nw: [-q, -q, "end", "text-after-edge"],
    }[side];
    L.setAttribute("x", String(pos[0]));
    L.setAttribute("y", String(pos[1]));
    L.setAttribute("text-anchor", pos[2]);
    L.setAttribute("dominant-baseline", pos[3]);
  }
  // a relay whose every wire is closed has stopped: drawn greyed, its name says so
  function stopped(id, role) {
    if (role !== "relay") return false;
    const set = adj.get(id);
    if (!set || !set.size) return false;
    for (const eid of set) {
      const st = edges.get(eid).d.state;
      if (st !== "closed" && st !== "failed") return false;
    }
    return true;
  }
  function nodeClass(d) {
    let c = `gk-node gk-role-${["relay", "peer", "external"].includes(d.role) ? d.role : "peer"}`;
    if (stopped(String(d.id), d.role)) c += " gk-stopped";
    if ((+d.errors || 0) > 0) c += " gk-has-errors";
    if (d.id === selNode) c += " gk-selected";
    if (hover && hover.type === "node" && hover.id === d.id) c += " gk-hover";
    return c;
  }
  function upsertNode(d, animate) {
    if (!d || d.id == null) return;
    const id = String(d.id);
    let n = nodes.get(id);
    const [tx, ty] = worldOf(d);
    if (!n) {
      const g = svg("g", { "data-id": id }, gNodes);
      n = { d, g, shape: null, ring: null, x: tx, y: ty, role: "", cls: "", text: null };
      n.label = svg("text", { class: "gk-node-label" }, g);
      n.badge = svg("circle", { class: "gk-node-badge", r: 3.5, hidden: "" }, g);
      nodes.set(id, n);
      setNodePos(n, tx, ty);
      placeAllDue = true; // a new node may stand on another pair's chord
    } else if (Math.abs(n.tx - tx) > 0.05 || Math.abs(n.ty - ty) > 0.05) {
      if (animate) {
        anims.set(id, { fx: n.x, fy: n.y, tx, ty, t0: performance.now() });
        kick();
      } else {
        anims.delete(id);
        setNodePos(n, tx, ty);
        placeAllDue = true;
      }
    }
    n.d = d;
    n.tx = tx;
    n.ty = ty;
    const role = ["relay", "peer", "external"].includes(d.role) ? d.role : "peer";
    if (role !== n.role) makeShape(n, role);
    placeLabel(n, d);
    refreshNodeLook(n);
    const bad = (+d.lost || 0) > 0 && !((+d.errors || 0) > 0);
    if (bad !== !n.badge.hasAttribute("hidden")) {
      if (bad) n.badge.removeAttribute("hidden");
      else n.badge.setAttribute("hidden", "");
    }
    if (hover && hover.type === "node" && hover.id === id) showTip();
  }
  function removeNode(id) {
    const n = nodes.get(id);
    if (!n) return;
    n.g.remove();
    nodes.delete(id);
    anims.delete(id);
    placeEdgesOf(id); // hides edges that lost an end
    placeAllDue = true; // and bundles that bent around it may straighten
    if (hover && hover.type === "node" && hover.id === id) hideTip();
  }
  function refreshNodeLook(n) {
    const d = n.d;
    const off = stopped(String(d.id), n.role);
    const text = `${d.label ?? d.id}${off ? " (stopped)" : ""}`;
    if (text !== n.text) {
      n.label.textContent = text;
      n.text = text;
    }
    const cls = nodeClass(d);
    if (cls !== n.cls) {
      n.g.setAttribute("class", cls);
      n.cls = cls;
      // greyed inline (views.css styles the rest of the node)
      n.g.style.opacity = off ? "0.55" : "";
      n.g.style.filter = off ? "grayscale(1)" : "";
    }
  }
  function refreshNodeClass(id) {
    const n = nodes.get(id);
    if (n) refreshNodeLook(n);
  }

  // ---------- edges ----------
  function edgeClass(d) {
    const t = TRANSPORTS.includes(d.transport) ? d.transport : "unknown";
    const s = STATES.includes(d.state) ? d.state : "open";
    let c = `gk-edge gk-t-${t} gk-s-${s}`;
    if (d.partitioned) c += " gk-partitioned";
    if (d.id === selEdge) c += " gk-selected";
    if (hover && hover.type === "edge" && hover.id === d.id) c += " gk-hover";
    if (hover && hover.type === "node" && (d.a === hover.id || d.b === hover.id)) c += " gk-adjacent";
    return c;
  }
  function link(eid, a, b) {
    for (const n of [a, b]) {
      let s = adj.get(n);
      if (!s) adj.set(n, (s = new Set()));
      s.add(eid);
    }
  }
  function unlink(eid, a, b) {
    for (const n of [a, b]) {
      const s = adj.get(n);
      if (s) {
        s.delete(eid);
        if (!s.size) adj.delete(n);
      }
    }
  }
  function joinPair(id, a, b) {
    const key = pairKey(a, b);
    let p = pairs.get(key);
    if (!p) pairs.set(key, (p = { lo: a < b ? a : b, hi: a < b ? b : a, ids: new Set() }));
    p.ids.add(id);
    return key;
  }
  function leavePair(id, key) {
    const p = pairs.get(key);
    if (!p) return;
    p.ids.delete(id);
    if (p.ids.size) placePair(key); // the wires left close up around the chord
    else pairs.delete(key);
  }
  function upsertEdge(d) {
    if (!d || d.id == null) return;
    const id = String(d.id);
    let e = edges.get(id);
    const a = String(d.a);
    const b = String(d.b);
    const oldState = e ? e.d.state : null;
    if (!e) {
      // one path per wire: parallel wires between the same two peers are drawn apart
      const line = svg("path", { "data-id": id }, gEdges);
      e = { d, line, label: null, cls: "", w: 0, text: "", a, b, key: "", geo: null, path: "" };
      edges.set(id, e);
      link(id, a, b);
      e.key = joinPair(id, a, b);
    } else if (e.a !== a || e.b !== b) {
      unlink(id, e.a, e.b);
      const oldKey = e.key;
      e.a = a;
      e.b = b;
      link(id, a, b);
      e.key = joinPair(id, a, b);
      if (oldKey !== e.key) leavePair(id, oldKey);
    }
    e.d = d;
    const cls = edgeClass(d);
    if (cls !== e.cls) {
      e.line.setAttribute("class", cls);
      e.cls = cls;
    }
    const w = edgeWidth(d) + (id === selEdge ? 1.5 : 0);
    if (Math.abs(w - e.w) > 0.01) {
      e.line.style.strokeWidth = `${w.toFixed(2)}px`;
      e.w = w;
    }
    const text = d.transport === "memory" ? faultText(d) : "";
    if (text !== e.text) {
      if (text && !e.label) {
        // a plate behind the text keeps it readable where other edges cross
        e.label = svg("g", { class: "gk-edge-label", "data-id": id }, gLabels);
        svg("rect", { class: "gk-edge-plate", rx: 3, height: 14, y: -7 }, e.label);
        svg("text", {}, e.label);
      }
      if (e.label) {
        if (text) {
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
        } else {
          e.label.remove();
          e.label = null;
        }
      }
      e.text = text;
    }
    placePair(e.key);
    if (oldState !== d.state) {
      refreshNodeClass(a); // a relay whose last open wire closed has stopped
      refreshNodeClass(b);
    }
    if (hover && hover.type === "edge" && hover.id === id) showTip();
  }
  function removeEdge(id) {
    const e = edges.get(id);
    if (!e) return;
    e.line.remove();
    if (e.label) e.label.remove();
    unlink(id, e.a, e.b);
    edges.delete(id);
    leavePair(id, e.key);
    refreshNodeClass(e.a);
    refreshNodeClass(e.b);
    if (hover && hover.type === "edge" && hover.id === id) hideTip();
    if (selEdge === id) placeHalo();
  }
  function refreshEdgeClass(id) {
    const e = edges.get(id);
    if (!e) return;
    const cls = edgeClass(e.d);
    if (cls !== e.cls) {
      e.line.setAttribute("class", cls);
      e.cls = cls;
    }
    const w = edgeWidth(e.d) + (id === selEdge ? 1.5 : 0);
    if (Math.abs(w - e.w) > 0.01) {
      e.line.style.strokeWidth = `${w.toFixed(2)}px`;
      e.w = w;
    }
  }

  // ---------- pulses ----------
  function addPulse(p) {
    if (!Array.isArray(p) || pulses.length >= MAX_PULSES) return false;
    const [eid, from, kind] = p;
    const e = edges.get(String(eid));
    if (!e) return false;
    const f = String(from);
    const to = f === e.a ? e.b : f === e.b ? e.a : null;
    if (to === null || !nodes.has(f) || !nodes.has(to) || !e.geo) return false;
    const a = nodes.get(f);
    const el = svg("circle", { class: "gk-pulse", r: 4, cx: a.x.toFixed(1), cy: a.y.toFixed(1), fill: kindColor(kind), "data-kind": String(kind || ""), "data-edge": String(eid) }, gPulses);
    // it follows its own wire's curve: from `a` forwards along it, from `b` backwards
    pulses.push({ el, eid: String(eid), back: f !== e.a, t0: performance.now() });
    return true;
  }

  // ---------- animation loop ----------
  function kick() {
    if (!raf && !dead) raf = requestAnimationFrame(frame);
  }
  function frame(now) {
    raf = 0;
    if (dead) return;
    now = performance.now();
    for (const [id, a] of anims) {
      const n = nodes.get(id);
      if (!n) {
        anims.delete(id);
        continue;
      }
      const p = Math.min(1, (now - a.t0) / MOVE_MS);
      const q = ease(p);
      setNodePos(n, a.fx + (a.tx - a.fx) * q, a.fy + (a.ty - a.fy) * q);
      placeEdgesOf(id);
      if (p >= 1) {
        anims.delete(id);
        placeAllDue = true;
      }
    }
    let j = 0;
    if (placeAllDue && !anims.size) placeAll(); // the slide is over: bend what now needs it
    for (let i = 0; i < pulses.length; i++) {
      const p = pulses[i];
      const t = (now - p.t0) / PULSE_MS;
      const e = edges.get(p.eid);
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
    if (anims.size || pulses.length) kick();
  }

  // ---------- status ----------
  function updateStatus() {
    const peers = stats && Number.isFinite(+stats.peers) ? +stats.peers : nodes.size;
    const links = stats && Number.isFinite(+stats.links) ? +stats.links : edges.size;
    let s = `${plural(peers, "peer", "peers")} · ${plural(links, "link", "links")}`;
    if (stats && +stats.partitions > 1) s += ` · ${fmtInt(stats.partitions)} partitions`;
    if (closed) s += " · closed";
    if (status.textContent !== s) status.textContent = s;
    empty.hidden = nodes.size > 0;
    const dense = edges.size > 300;
    root.classList.toggle("gk-dense", dense);
  }

  // ---------- messages ----------
  function hello() {
    helloAt = performance.now();
    awaiting = true;
    model.send({ type: "hello" });
  }
  function applyReset(msg, animate) {
    const ns = Array.isArray(msg.nodes) ? msg.nodes : [];
    const es = Array.isArray(msg.edges) ? msg.edges : [];
    const keepN = new Set(ns.map((d) => String(d.id)));
    const keepE = new Set(es.map((d) => String(d.id)));
    for (const id of [...edges.keys()]) if (!keepE.has(id)) removeEdge(id);
    for (const id of [...nodes.keys()]) if (!keepN.has(id)) removeNode(id);
    for (const d of ns) upsertNode(d, animate);
    for (const d of es) upsertEdge(d);
    if (msg.stats) stats = msg.stats;
    if (Number.isFinite(+msg.v)) v = +msg.v;
    if (placeAllDue && !anims.size) placeAll();
    updateStatus();
    bump();
  }
  function applyDiff(msg) {
    for (const id of msg.gone_edges || []) removeEdge(String(id));
    for (const id of msg.gone_nodes || []) removeNode(String(id));
    for (const d of msg.nodes || []) upsertNode(d, true);
    for (const d of msg.edges || []) upsertEdge(d);
    let added = false;
    for (const p of msg.pulses || []) {
      if (pulses.length >= MAX_PULSES) break;
      added = addPulse(p) || added;
    }
    if (added) kick();
    if (placeAllDue && !anims.size) placeAll();
    if (msg.stats) stats = msg.stats;
    v = +msg.v;
    updateStatus();
    bump();
  }
  function onMsg(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "reset") {
      awaiting = false;
      applyReset(msg, v >= 0);
    } else if (msg.type === "diff") {
      if (v >= 0 && msg.from === v) {
        applyDiff(msg);
      } else if (v >= 0 && Number.isFinite(+msg.v) && +msg.v <= v) {
        // stale (already covered by a newer reset or snapshot): ignore quietly
      } else if (!awaiting || performance.now() - helloAt > 1000) {
        hello(); // at most once a second while a reset is awaited
      }
    }
  }
  function onSnapshot() {
    const s = model.get("snapshot");
    if (!s || typeof s !== "object" || !Array.isArray(s.nodes)) return;
    const sv = Number.isFinite(+s.v) ? +s.v : -1;
    if (v < 0 || sv > v) applyReset(s, v >= 0);
  }

  // ---------- tooltip ----------
  function row(table, k, val) {
    const tr = html("tr", "", table);
    html("td", "", tr, k);
    html("td", "", tr, val);
  }
  function showTip() {
    if (!hover) return hideTip();
    tip.textContent = "";
    if (hover.type === "node") {
      const n = nodes.get(hover.id);
      if (!n) return hideTip();
      const d = n.d;
      html("div", "gk-tt-title", tip, `${d.label ?? d.id}`);
      const t = html("table", "", tip);
      row(t, "pid", String(d.pid ?? d.id));
      row(t, "role", String(d.role || "peer"));
      row(t, "said", fmtInt(d.said || 0));
      row(t, "heard", fmtInt(d.heard || 0));
      row(t, "dropped", fmtInt(d.dropped || 0));
      row(t, "lost", fmtInt(d.lost || 0));
      row(t, "puts", fmtInt(d.puts || 0));
      row(t, "errors", fmtInt(d.errors || 0));
      const deg = adj.get(hover.id);
      row(t, "links", fmtInt(deg ? deg.size : 0));
    } else {
      const e = edges.get(hover.id);
      if (!e) return hideTip();
      const d = e.d;
      const an = nodes.get(e.a);
      const bn = nodes.get(e.b);
      html("div", "gk-tt-title", tip, `${an ? an.d.label ?? e.a : e.a} ↔ ${bn ? bn.d.label ?? e.b : e.b}`);
      const t = html("table", "", tip);
      row(t, "transport", String(d.transport ?? "?"));
      if (d.tag) row(t, "wire", String(d.tag));
      row(t, "state", String(d.state ?? "?"));
      const together = pairs.get(e.key);
      if (together && together.ids.size > 1) row(t, "wires", `${together.ids.size} between these two`);
      row(t, "messages", fmtInt(d.count || 0));
      row(t, "rate", `${(+d.rate || 0).toFixed(1)}/s`);
      row(t, "lost", fmtInt(d.lost || 0));
      if (d.latency != null) row(t, "latency", `${Math.round(+d.latency * 1000)} ms`);
      if (d.loss != null) row(t, "loss", `${+(+d.loss * 100).toFixed(1)}%`);
      if (d.partitioned) row(t, "fault", "partitioned");
    }
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
  function hideTip() {
    tip.hidden = true;
  }
  function setHover(h) {
    const old = hover;
    const same = old && h && old.type === h.type && old.id === h.id;
    hover = h;
    if (!same) {
      if (old && old.type === "node") {
        refreshNodeClass(old.id);
        stage.classList.remove("gk-focus");
        const s = adj.get(old.id);
        if (s) for (const eid of s) refreshEdgeClass(eid);
      }
      if (old && old.type === "edge") refreshEdgeClass(old.id);
      if (h && h.type === "node") {
        refreshNodeClass(h.id);
        stage.classList.add("gk-focus");
        const s = adj.get(h.id);
        if (s) for (const eid of s) refreshEdgeClass(eid);
      }
      if (h && h.type === "edge") refreshEdgeClass(h.id);
      placeHalo();
    }
    if (h) showTip();
    else hideTip();
  }

  // ---------- pointer: hover, pan, click ----------
  function local(ev) {
    const r = svgEl.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }
  // the wire under the pointer: the nearest curve within a few pixels (each parallel wire
  // is its own target)
  function nearestEdge(px, py) {
    const wx = (px - T.x) / T.k;
    const wy = (py - T.y) / T.k;
    let best = null;
    let bestD = Infinity;
    for (const [id, e] of edges) {
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
  function nodeAt(ev) {
    const g = ev.target && ev.target.closest ? ev.target.closest(".gk-node") : null;
    return g && svgEl.contains(g) ? g.getAttribute("data-id") : null;
  }
  function select(node, edge) {
    const oldN = selNode;
    const oldE = selEdge;
    selNode = node;
    selEdge = edge;
    if (oldN !== node) {
      refreshNodeClass(oldN);
      refreshNodeClass(node);
    }
    if (oldE !== edge) {
      refreshEdgeClass(oldE);
      refreshEdgeClass(edge);
    }
    placeHalo();
    model.set("selected_node", node);
    model.set("selected_edge", edge);
    model.save_changes();
  }
  function onPointerDown(ev) {
    if (ev.button !== 0) return;
    const [px, py] = local(ev);
    drag = { px, py, tx: T.x, ty: T.y, id: ev.pointerId, moved: false, node: nodeAt(ev) };
    try {
      svgEl.setPointerCapture(ev.pointerId);
    } catch (_) {
      /* synthetic events */
    }
  }
  function onPointerMove(ev) {
    const [px, py] = local(ev);
    if (drag && drag.id === ev.pointerId) {
      const dx = px - drag.px;
      const dy = py - drag.py;
      if (!drag.moved && dx * dx + dy * dy > 9) {
        drag.moved = true;
        svgEl.classList.add("gk-panning");
        setHover(null);
      }
      if (drag.moved) {
        T.x = drag.tx + dx;
        T.y = drag.ty + dy;
        applyTransform();
      }
      return;
    }
    const nid = nodeAt(ev);
    if (nid) return setHover({ type: "node", id: nid, px, py });
    const eid = nearestEdge(px, py);
    if (eid) return setHover({ type: "edge", id: eid, px, py });
    setHover(null);
  }
  function onPointerUp(ev) {
    if (!drag || drag.id !== ev.pointerId) return;
    const d = drag;
    drag = null;
    svgEl.classList.remove("gk-panning");
    if (d.moved) return;
    const [px, py] = local(ev);
    const nid = d.node || nodeAt(ev);
    // as docs/views.md says: a node click sets selected_node, an edge click selected_edge
    // (each leaves the other alone: the dashboard filters the flow by the edge), the
    // background clears both
    if (nid) return select(nid, selEdge);
    const eid = nearestEdge(px, py);
    if (eid) return select(selNode, eid);
    select("", "");
  }
  function onPointerLeave() {
    if (!drag) setHover(null);
  }
  function onWheel(ev) {
    ev.preventDefault();
    const [px, py] = local(ev);
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
    const f = Math.exp(-ev.deltaY * unit * 0.0015);
    const k = Math.min(MAX_K, Math.max(MIN_K, T.k * f));
    T.x = px - ((px - T.x) * k) / T.k;
    T.y = py - ((py - T.y) * k) / T.k;
    T.k = k;
    applyTransform();
    if (hover) setHover(null);
  }
  function fit() {
    if (!nodes.size) {
      T.k = 1;
      T.x = 0;
      T.y = 0;
      return applyTransform();
    }
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (const n of nodes.values()) {
      const x = n.tx ?? n.x;
      const y = n.ty ?? n.y;
      x0 = Math.min(x0, x - 64); // room for a label either side
      x1 = Math.max(x1, x + 64);
      y0 = Math.min(y0, y - 30);
      y1 = Math.max(y1, y + 30);
    }
    const w = W || 600;
    const h = H || 300;
    const k = Math.min(2, Math.max(MIN_K, Math.min(w / (x1 - x0), h / (y1 - y0))));
    T.k = k;
    T.x = w / 2 - ((x0 + x1) / 2) * k;
    T.y = h / 2 - ((y0 + y1) / 2) * k;
    applyTransform();
  }

  // ---------- size ----------
  function relayout() {
    for (const [id, n] of nodes) {
      const [tx, ty] = worldOf(n.d);
      anims.delete(id);
      n.tx = tx;
      n.ty = ty;
      setNodePos(n, tx, ty);
    }
    placeAll();
    for (const p of pulses) p.el.remove();
    pulses.length = 0;
  }
  function measure() {
    const w = stage.clientWidth;
    const h = stage.clientHeight;
    if (w > 0 && h > 0 && (w !== W || h !== H)) {
      W = w;
      H = h;
      relayout();
    }
  }
  const ro = typeof ResizeObserver === "function" ? new ResizeObserver(measure) : null;
  if (ro) ro.observe(stage);

  // ---------- traits ----------
  function onHeight() {
    const h = +model.get("height") || 420;
    root.style.height = `${h}px`;
    measure();
  }
  function onTitle() {
    const text = model.get("title") || "Mesh";
    title.textContent = closed ? `${text} (closed)` : text;
  }
  function onClosed() {
    closed = !!model.get("closed");
    closedBox.hidden = !closed;
    root.classList.toggle("gk-closed", closed);
    root.dataset.closed = closed ? "1" : "0";
    onTitle();
    updateStatus();
  }
  function onSelected() {
    const n = model.get("selected_node") || "";
    const e = model.get("selected_edge") || "";
    if (n !== selNode) {
      const old = selNode;
      selNode = n;
      refreshNodeClass(old);
      refreshNodeClass(n);
    }
    if (e !== selEdge) {
      const old = selEdge;
      selEdge = e;
      refreshEdgeClass(old);
      refreshEdgeClass(e);
      placeHalo();
    }
  }
  const traitHandlers = {
    "change:height": () => (onHeight(), bump()),
    "change:title": () => (onTitle(), bump()),
    "change:closed": () => (onClosed(), bump()),
    "change:selected_node": () => (onSelected(), bump()),
    "change:selected_edge": () => (onSelected(), bump()),
    "change:snapshot": () => onSnapshot(),
  };
  for (const k in traitHandlers) model.on(k, traitHandlers[k]);
  const onCustom = (msg) => onMsg(msg);
  model.on("msg:custom", onCustom);

  svgEl.addEventListener("pointerdown", onPointerDown);
  svgEl.addEventListener("pointermove", onPointerMove);
  svgEl.addEventListener("pointerup", onPointerUp);
  svgEl.addEventListener("pointercancel", onPointerUp);
  svgEl.addEventListener("pointerleave", onPointerLeave);
  svgEl.addEventListener("wheel", onWheel, { passive: false });
  fitBtn.addEventListener("click", fit);

  onHeight();
  onClosed();
  applyTransform();
  onSnapshot();
  updateStatus();
  measure();
  hello();

  return () => {
    dead = true;
    if (raf) cancelAnimationFrame(raf);
    raf = 0;
    for (const k in traitHandlers) model.off(k, traitHandlers[k]);
    model.off("msg:custom", onCustom);
    if (ro) ro.disconnect();
    svgEl.removeEventListener("pointerdown", onPointerDown);
    svgEl.removeEventListener("pointermove", onPointerMove);
    svgEl.removeEventListener("pointerup", onPointerUp);
    svgEl.removeEventListener("pointercancel", onPointerUp);
    svgEl.removeEventListener("pointerleave", onPointerLeave);
    svgEl.removeEventListener("wheel", onWheel);
    fitBtn.removeEventListener("click", fit);
    offError();
    root.remove();
  };
}

export default { render };
