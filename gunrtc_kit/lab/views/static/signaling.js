// SignalingView: the WebRTC handshake of each link as a timeline table (docs/views.md,
// "SignalingView"). Steps arrive as a `reset` then `diff`s of new steps; an SDP toggle asks
// Python for the annotated lines of that step (`{"type": "sdp", "i"}`) and shows them.

import { html, viewRoot, bump, save, closest, lifetime, diffStream, errorBanner } from "./common.js";

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

function render({ model, el }) {
  const life = lifetime();
  const root = viewRoot(el, "signaling", "gk-signaling");
  const header = html("div", "gk-header", root);
  html("span", "gk-title", header, "Signalling");
  const lab = html("label", "", header);
  html("span", "", lab, "link");
  const selLink = html("select", "gk-link-filter", lab);
  selLink.name = "link";
  html("span", "gk-spring", header);
  const countText = html("span", "gk-count", header, "0 steps");
  countText.setAttribute("role", "status");
  errorBanner(model, root, null, life);
  const scroll = html("div", "gk-sig-scroll", root);
  const table = html("table", "gk-sig-table", scroll);
  const thr = html("tr", "", html("thead", "", table));
  for (const h of ["time", "node", "", "peer", "step", "layer", "what", "SDP"]) html("th", "", thr, h);
  const tbody = html("tbody", "", table);
  const empty = html("div", "gk-note", scroll, "no signalling yet");
  empty.style.padding = "8px";

  let link = String(model.get("link") || "");
  const steps = []; // {s, tr, sdpTr}
  const byI = new Map();
  const sdp = new Map(); // i -> lines
  const open = new Set(); // i with the SDP shown
  const asked = new Set();

  function labelOfLink(id) {
    const links = Array.isArray(model.get("links")) ? model.get("links") : [];
    const l = links.find((x) => String(x.id) === String(id));
    return l ? String(l.label ?? id) : String(id);
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
    const st = html("td", "", tr);
    html("span", `gk-step-badge gk-step-${slug(s.step)}`, st, String(s.step || ""));
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
    return tr;
  }
  function visible(s) {
    return !link || String(s.link) === link;
  }
  function drawSdp(rec) {
    const i = rec.s.i;
    if (!open.has(i)) {
      if (rec.sdpTr) rec.sdpTr.remove();
      rec.sdpTr = null;
      const b = rec.tr.querySelector(".gk-sdp-toggle");
      if (b) b.setAttribute("aria-expanded", "false");
      return;
    }
    const b = rec.tr.querySelector(".gk-sdp-toggle");
    if (b) b.setAttribute("aria-expanded", "true");
    const tr = html("tr", "gk-sdp");
    tr.dataset.i = String(i);
    const td = html("td", "", tr);
    td.colSpan = 8;
    const lines = sdp.get(i);
    if (!lines) html("div", "gk-note", td, "asking Python for this SDP…");
    else {
      const t = html("table", "", td);
      for (const pair of lines) {
        const [line, note] = Array.isArray(pair) ? pair : [String(pair), ""];
        const r = html("tr", note ? "gk-sdp-annotated" : "", t);
        html("td", "gk-sdp-line", r, String(line ?? ""));
        html("td", "gk-sdp-note", r, note ? String(note) : "");
      }
    }
    if (rec.sdpTr) rec.sdpTr.replaceWith(tr);
    else rec.tr.after(tr);
    rec.sdpTr = tr;
    tr.hidden = rec.tr.hidden;
  }
  function atBottom() {
    return scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 24;
  }
  function addSteps(list) {
    const stick = atBottom();
    const frag = document.createDocumentFragment();
    const added = [];
    for (const s of list || []) {
      if (!s || typeof s !== "object" || byI.has(s.i)) continue;
      const rec = { s, tr: buildRow(s), sdpTr: null };
      rec.tr.hidden = !visible(s);
      steps.push(rec);
      byI.set(s.i, rec);
      frag.appendChild(rec.tr);
      added.push(rec);
    }
    tbody.appendChild(frag);
    for (const rec of added) if (open.has(rec.s.i)) drawSdp(rec);
    while (steps.length > MAX_STEPS) {
      const old = steps.shift();
      old.tr.remove();
      if (old.sdpTr) old.sdpTr.remove();
      byI.delete(old.s.i);
    }
    updateCount();
    if (stick) scroll.scrollTop = scroll.scrollHeight;
  }
  function clearSteps() {
    for (const rec of steps) {
      rec.tr.remove();
      if (rec.sdpTr) rec.sdpTr.remove();
    }
    steps.length = 0;
    byI.clear();
  }
  function updateCount() {
    const shown = steps.filter((r) => visible(r.s)).length;
    countText.textContent = link ? `${shown} of ${steps.length} steps` : `${steps.length} steps`;
    empty.hidden = shown > 0;
    empty.textContent = steps.length ? "no steps on this link" : "no signalling yet";
  }
  function applyFilter() {
    for (const rec of steps) {
      const h = !visible(rec.s);
      rec.tr.hidden = h;
      if (rec.sdpTr) rec.sdpTr.hidden = h;
    }
    updateCount();
  }
  function fillLinks() {
    const links = Array.isArray(model.get("links")) ? model.get("links") : [];
    const want = [["", "all links"], ...links.map((l) => [String(l.id), String(l.label ?? l.id)])];
    if (link && !want.some(([x]) => x === link)) want.push([link, labelOfLink(link)]);
    const sig = JSON.stringify(want);
    if (selLink.dataset.sig !== sig) {
      selLink.textContent = "";
      for (const [val, t] of want) html("option", "", selLink, t).value = val;
      selLink.dataset.sig = sig;
    }
    selLink.value = link;
  }

  const stream = diffStream(
    model,
    (msg) => {
      clearSteps();
      addSteps(msg.steps);
    },
    (msg) => addSteps(msg.steps),
  );
  // The `snapshot` trait (the newest steps and their version) travels like any trait, also
  // while a cell keeps the kernel busy and a `hello` cannot be answered; diffs continue it.
  function onSnapshot() {
    const snap = model.get("snapshot");
    if (!snap || typeof snap !== "object" || !Number.isFinite(+snap.v)) return;
    if (+snap.v <= stream.v) return;
    onMsg({ type: "reset", v: +snap.v, steps: snap.steps });
  }
  function onMsg(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "reset") {
      stream.reset(msg);
      bump(root);
    } else if (msg.type === "diff") {
      if (stream.diff(msg)) bump(root);
    } else if (msg.type === "sdp") {
      const i = msg.i;
      sdp.set(i, Array.isArray(msg.lines) ? msg.lines : []);
      const rec = byI.get(i);
      if (rec && open.has(i)) drawSdp(rec);
      bump(root);
    }
  }
  const onClick = (ev) => {
    const b = closest(ev, ".gk-sdp-toggle");
    if (!b) return;
    const i = Number(b.dataset.i);
    const rec = byI.get(i);
    if (!rec) return;
    if (open.has(i)) open.delete(i);
    else {
      open.add(i);
      if (!sdp.has(i) || !asked.has(i)) {
        asked.add(i);
        model.send({ type: "sdp", i });
      }
    }
    drawSdp(rec);
  };
  const onSelect = () => {
    link = selLink.value;
    save(model, { link });
    applyFilter();
  };
  const onLinkTrait = () => {
    link = String(model.get("link") || "");
    fillLinks();
    applyFilter();
    bump(root);
  };
  const onLinksTrait = () => {
    fillLinks();
    bump(root);
  };
  const onHeight = () => {
    root.style.height = `${+model.get("height") || 360}px`;
  };
  life.listen(model, "change:snapshot", onSnapshot);
  life.listen(model, "change:link", onLinkTrait);
  life.listen(model, "change:links", onLinksTrait);
  life.listen(model, "change:height", () => (onHeight(), bump(root)));
  life.listen(model, "msg:custom", (msg) => onMsg(msg));
  life.listen(tbody, "click", onClick);
  life.listen(selLink, "change", onSelect);

  onHeight();
  fillLinks();
  updateCount();
  onSnapshot();
  stream.hello();

  return () => {
    life.end();
    root.remove();
  };
}

export default { render };
