// SignalingView: the WebRTC handshake of each link as a timeline table (docs/views.md,
// "SignalingView"). Steps arrive as a `reset` then `diff`s of new steps; an SDP toggle asks
// Python for the annotated lines of that step (`{"type": "sdp", "i"}`) and shows them.
//
// Step mode: the `held` trait lists the frames carrying signalling that wait, held, on the
// Lab's memory wires (announcements, offers, candidates over a memory relay): a strip of
// chips above the steps, "in flight". In a Lab's view (`steppable`) a click on one opens the
// step menu (deliver / drop / duplicate, common.js stepMenu).

import { html, viewRoot, bump, save, closest, lifetime, diffStream, errorBanner, kindColor, stepMenu } from "./common.js";

const LAYERS = {
  pc: "PC",
  ice: "ICE",
  "ice-gathering": "ICE gathering",
  dtls: "DTLS",
  sctp: "SCTP",
  dc: "data channel",
  pair: "candidate pair",
};
const MAX_STEPS = 5000;

function stateClass(text) {
  const t = String(text || "").toLowerCase();
  if (/fail|closed|disconnect|error/.test(t)) return "gk-state-bad";
  if (/connected|completed|complete|open|succeeded|selected|stable/.test(t)) return "gk-state-good";
  if (/checking|connecting|new|gathering|have-/.test(t)) return "gk-state-wait";
  return "";
}
const slug = (s) => String(s || "").replace(/[^a-z0-9-]/gi, "");

// Everything one rendered signalling view holds: its model, its lifetime (listeners), its
// elements (filled in by buildHeader / buildTable) and the steps it shows.
function newState(model) {
  return {
    model,
    life: lifetime(),
    stream: null, // the reset / diff versions (diffStream)
    link: String(model.get("link") || ""), // the link shown ("": all)
    steps: [], // {s, tr, sdpTr}
    byI: new Map(),
    sdp: new Map(), // i -> lines
    open: new Set(), // i with the SDP shown
    asked: new Set(),
  };
}

// ---------- DOM ----------
function buildHeader(st) {
  const header = html("div", "gk-header", st.root);
  html("span", "gk-title", header, "Signalling");
  const lab = html("label", "", header);
  html("span", "", lab, "link");
  st.selLink = html("select", "gk-link-filter", lab);
  st.selLink.name = "link";
  html("span", "gk-spring", header);
  st.countText = html("span", "gk-count", header, "0 steps");
  st.countText.setAttribute("role", "status");
}
// the strip of held signalling frames (step mode), and its menu
function buildHeld(st) {
  const box = (st.heldBox = html("div", "gk-sig-held", st.root));
  html("span", "gk-sig-held-title", box, "held, in flight:");
  st.heldChips = html("span", "gk-sig-held-chips", box);
  box.hidden = true;
}
function drawHeld(st) {
  const list = Array.isArray(st.model.get("held")) ? st.model.get("held") : [];
  st.heldChips.textContent = "";
  const can = st.menu.can();
  for (const d of list) {
    const kinds = Array.isArray(d.kinds) ? d.kinds : [];
    const chip = html("button", "gk-held-chip", st.heldChips, String(d.text ?? d.frame));
    chip.type = "button";
    chip.dataset.frame = String(d.frame);
    chip.style.borderColor = kindColor(kinds[0]);
    chip.title = `in flight: held on its wire (step mode)${can ? "; click: deliver / drop / duplicate" : ""}`;
  }
  st.heldBox.hidden = !list.length;
  st.root.dataset.held = String(list.length);
  if (st.menu.frame && !list.some((d) => String(d.frame) === st.menu.frame) && !st.menu.req) st.menu.frame = "";
}
function onHeldClick(st, ev) {
  const chip = closest(ev, ".gk-held-chip");
  if (!chip) return;
  const box = st.root.getBoundingClientRect();
  const r = chip.getBoundingClientRect();
  if (st.menu.open(chip.dataset.frame, chip.textContent, r.left - box.left - 8, r.bottom - box.top - 4)) bump(st.root);
}
function buildTable(st) {
  const scroll = (st.scroll = html("div", "gk-sig-scroll", st.root));
  const table = html("table", "gk-sig-table", scroll);
  const thr = html("tr", "", html("thead", "", table));
  for (const h of ["time", "node", "", "peer", "step", "layer", "what", "SDP"]) html("th", "", thr, h);
  st.tbody = html("tbody", "", table);
  st.empty = html("div", "gk-note", scroll, "no signalling yet");
  st.empty.style.padding = "8px";
}

// ---------- rows ----------
function stepCells(tr, s) {
  const stepTd = html("td", "", tr);
  html("span", `gk-step-badge gk-step-${slug(s.step)}`, stepTd, String(s.step || ""));
  const ly = html("td", "", tr);
  if (s.layer) {
    const b = html("span", `gk-layer gk-layer-${slug(s.layer)}`, ly, LAYERS[s.layer] || String(s.layer));
    b.title = `reported by aiortc: ${s.layer}`;
  }
  const tx = html("td", "gk-what", tr);
  html("span", s.step === "state" ? stateClass(s.text) : "", tx, String(s.text ?? ""));
  const sd = html("td", "", tr);
  if (s.has_sdp) {
    const b = html("button", "gk-sdp-toggle", sd, "SDP");
    b.type = "button";
    b.setAttribute("aria-expanded", "false");
    b.setAttribute("aria-label", `show the SDP of step ${s.i}`);
    b.dataset.i = String(s.i);
  }
}
function buildRow(s) {
  const tr = html("tr", "gk-step");
  tr.dataset.i = String(s.i);
  tr.dataset.step = String(s.step || "");
  tr.dataset.link = String(s.link || "");
  html("td", "gk-time", tr, Number.isFinite(+s.t) ? `+${(+s.t).toFixed(3)} s` : "");
  html("td", "gk-node", tr, String(s.node ?? ""));
  const dir = html("td", "gk-dir", tr, s.direction === "out" ? "→" : s.direction === "in" ? "←" : "");
  if (s.direction) dir.title = s.direction === "out" ? "sent" : "received";
  html("td", "gk-peerc", tr, String(s.peer ?? ""));
  stepCells(tr, s);
  return tr;
}
function visible(st, s) {
  return !st.link || String(s.link) === st.link;
}
function atBottom(st) {
  const { scroll } = st;
  return scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 24;
}
function addSteps(st, list) {
  const stick = atBottom(st);
  const frag = document.createDocumentFragment();
  const added = [];
  for (const s of list || []) {
    if (!s || typeof s !== "object" || st.byI.has(s.i)) continue;
    const rec = { s, tr: buildRow(s), sdpTr: null };
    rec.tr.hidden = !visible(st, s);
    st.steps.push(rec);
    st.byI.set(s.i, rec);
    frag.appendChild(rec.tr);
    added.push(rec);
  }
  st.tbody.appendChild(frag);
  for (const rec of added) if (st.open.has(rec.s.i)) drawSdp(st, rec);
  while (st.steps.length > MAX_STEPS) {
    const old = st.steps.shift();
    old.tr.remove();
    if (old.sdpTr) old.sdpTr.remove();
    st.byI.delete(old.s.i);
  }
  updateCount(st);
  if (stick) st.scroll.scrollTop = st.scroll.scrollHeight;
}
function clearSteps(st) {
  for (const rec of st.steps) {
    rec.tr.remove();
    if (rec.sdpTr) rec.sdpTr.remove();
  }
  st.steps.length = 0;
  st.byI.clear();
}
function updateCount(st) {
  const { steps } = st;
  const shown = steps.filter((r) => visible(st, r.s)).length;
  st.countText.textContent = st.link ? `${shown} of ${steps.length} steps` : `${steps.length} steps`;
  st.empty.hidden = shown > 0;
  st.empty.textContent = steps.length ? "no steps on this link" : "no signalling yet";
}

// ---------- SDP ----------
function sdpLines(td, lines) {
  if (!lines) {
    html("div", "gk-note", td, "asking Python for this SDP…");
    return;
  }
  const t = html("table", "", td);
  for (const pair of lines) {
    const [line, note] = Array.isArray(pair) ? pair : [String(pair), ""];
    const r = html("tr", note ? "gk-sdp-annotated" : "", t);
    html("td", "gk-sdp-line", r, String(line ?? ""));
    html("td", "gk-sdp-note", r, note ? String(note) : "");
  }
}
// The SDP row under a step: shown (and drawn again) while its toggle is open, else removed.
function drawSdp(st, rec) {
  const i = rec.s.i;
  const b = rec.tr.querySelector(".gk-sdp-toggle");
  if (!st.open.has(i)) {
    if (rec.sdpTr) rec.sdpTr.remove();
    rec.sdpTr = null;
    if (b) b.setAttribute("aria-expanded", "false");
    return;
  }
  if (b) b.setAttribute("aria-expanded", "true");
  const tr = html("tr", "gk-sdp");
  tr.dataset.i = String(i);
  const td = html("td", "", tr);
  td.colSpan = 8;
  sdpLines(td, st.sdp.get(i));
  if (rec.sdpTr) rec.sdpTr.replaceWith(tr);
  else rec.tr.after(tr);
  rec.sdpTr = tr;
  tr.hidden = rec.tr.hidden;
}
function onClick(st, ev) {
  const b = closest(ev, ".gk-sdp-toggle");
  if (!b) return;
  const i = Number(b.dataset.i);
  const rec = st.byI.get(i);
  if (!rec) return;
  if (st.open.has(i)) st.open.delete(i);
  else {
    st.open.add(i);
    if (!st.sdp.has(i) || !st.asked.has(i)) {
      st.asked.add(i);
      st.model.send({ type: "sdp", i });
    }
  }
  drawSdp(st, rec);
}

// ---------- the link filter ----------
function labelOfLink(st, id) {
  const links = Array.isArray(st.model.get("links")) ? st.model.get("links") : [];
  const l = links.find((x) => String(x.id) === String(id));
  return l ? String(l.label ?? id) : String(id);
}
function applyFilter(st) {
  for (const rec of st.steps) {
    const h = !visible(st, rec.s);
    rec.tr.hidden = h;
    if (rec.sdpTr) rec.sdpTr.hidden = h;
  }
  updateCount(st);
}
function fillLinks(st) {
  const { link, selLink } = st;
  const links = Array.isArray(st.model.get("links")) ? st.model.get("links") : [];
  const want = [["", "all links"], ...links.map((l) => [String(l.id), String(l.label ?? l.id)])];
  if (link && !want.some(([x]) => x === link)) want.push([link, labelOfLink(st, link)]);
  const sig = JSON.stringify(want);
  if (selLink.dataset.sig !== sig) {
    selLink.textContent = "";
    for (const [val, t] of want) html("option", "", selLink, t).value = val;
    selLink.dataset.sig = sig;
  }
  selLink.value = link;
}
function onSelect(st) {
  st.link = st.selLink.value;
  save(st.model, { link: st.link });
  applyFilter(st);
}

// ---------- messages, traits ----------
// The `snapshot` trait (the newest steps and their version) travels like any trait, also
// while a cell keeps the kernel busy and a `hello` cannot be answered; diffs continue it.
function onSnapshot(st) {
  const snap = st.model.get("snapshot");
  if (!snap || typeof snap !== "object" || !Number.isFinite(+snap.v)) return;
  if (+snap.v <= st.stream.v) return;
  onMsg(st, { type: "reset", v: +snap.v, steps: snap.steps });
}
function onMsg(st, msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.type === "reset") {
    st.stream.reset(msg);
    bump(st.root);
  } else if (msg.type === "diff") {
    if (st.stream.diff(msg)) bump(st.root);
  } else if (msg.type === "stepped") {
    if (st.menu.answered(msg)) bump(st.root);
  } else if (msg.type === "sdp") {
    const i = msg.i;
    st.sdp.set(i, Array.isArray(msg.lines) ? msg.lines : []);
    const rec = st.byI.get(i);
    if (rec && st.open.has(i)) drawSdp(st, rec);
    bump(st.root);
  }
}
function onLinkTrait(st) {
  st.link = String(st.model.get("link") || "");
  fillLinks(st);
  applyFilter(st);
  bump(st.root);
}
function onHeight(st) {
  st.root.style.height = `${+st.model.get("height") || 360}px`;
}
function listenAll(st) {
  const { life, model, root } = st;
  life.listen(model, "change:snapshot", () => onSnapshot(st));
  life.listen(model, "change:link", () => onLinkTrait(st));
  life.listen(model, "change:links", () => (fillLinks(st), bump(root)));
  life.listen(model, "change:height", () => (onHeight(st), bump(root)));
  life.listen(model, "change:held", () => (drawHeld(st), bump(root)));
  life.listen(model, "change:steppable", () => (drawHeld(st), bump(root)));
  life.listen(st.heldChips, "click", (ev) => onHeldClick(st, ev));
  life.listen(model, "msg:custom", (msg) => onMsg(st, msg));
  life.listen(st.tbody, "click", (ev) => onClick(st, ev));
  life.listen(st.selLink, "change", () => onSelect(st));
}

function render({ model, el }) {
  const st = newState(model);
  const { life } = st;
  st.root = viewRoot(el, "signaling", "gk-signaling");
  buildHeader(st);
  errorBanner(model, st.root, null, life);
  buildHeld(st);
  buildTable(st);
  st.root.style.position = "relative"; // the step menu stands over the view
  st.menu = stepMenu(model, st.root, life);
  st.stream = diffStream(
    model,
    (msg) => {
      clearSteps(st);
      addSteps(st, msg.steps);
    },
    (msg) => addSteps(st, msg.steps),
  );
  listenAll(st);

  onHeight(st);
  drawHeld(st);
  fillLinks(st);
  updateCount(st);
  onSnapshot(st);
  st.stream.hello();

  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
