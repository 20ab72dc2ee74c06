// SeaView: the SEA inspector. One user's nodes and fields with a verdict badge per field
// (valid / valid-cert / invalid / unsigned), the key that signed it (shortened, the whole key
// on hover), and the steps of the peer's last auth. Everything comes from two traits Python
// computes (`report`, `auth`; gunrtc_kit/diagnose/sea.py): this module only draws them.
// The "refresh" button sends {type: "refresh"}; a newly rendered view sends {type: "hello"}.
// The header's "live" checkbox sets the `live` trait: unticked, the inspector is frozen at
// `frozen_at` (no refresh button; Python reads nothing again); `closed`: its Lab is closed.

import { html, viewRoot, bump, lifetime, errorBanner, liveToggle } from "./common.js";

const VERDICTS = ["valid", "valid-cert", "invalid", "unsigned"];
const MAX_ROWS = 500;

function fmtState(s) {
  const n = +s;
  if (!Number.isFinite(n)) return String(s ?? "—");
  if (n > 1e11 && n < 1e14) {
    // a wall-clock state: the time of day here, the date and the raw state in the title
    const d = new Date(n);
    const p = (x, w = 2) => String(x).padStart(w, "0");
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  }
  return String(n);
}

function badge(parent, verdict) {
  const v = VERDICTS.includes(verdict) ? verdict : "unknown";
  const b = html("span", `gk-sea-badge gk-v-${v}`, parent, String(verdict || "?"));
  b.dataset.verdict = String(verdict || "");
  return b;
}

// Everything one rendered SEA view holds: its model, its lifetime (listeners), its elements
// (filled in by buildHeader / buildBody) and what it last drew.
function newState(model) {
  return {
    model,
    life: lifetime(),
    sig: { report: null, auth: null }, // the `report` and `auth` drawn (JSON)
  };
}

// ---------- DOM ----------
function buildHeader(st) {
  const header = (st.header = html("div", "gk-header", st.root));
  st.title = html("span", "gk-title", header, "SEA");
  st.who = html("span", "gk-sea-who", header);
  st.counts = html("span", "gk-sea-counts", header);
  html("span", "gk-spring", header);
  st.refresh = html("button", "gk-sea-refresh", header, "refresh");
  st.refresh.title = "verify every field again now";
}
function buildBody(st) {
  const body = html("div", "gk-sea-body", st.root);
  st.summary = html("div", "gk-sea-summary", body);
  st.aliasBox = html("div", "gk-sea-aliases", body);
  const fieldsSec = html("section", "", body);
  html("h5", "", fieldsSec, "signed fields");
  st.fieldsBox = html("div", "", fieldsSec);
  st.notes = html("ul", "gk-note gk-sea-notes", body);
  const authSec = html("section", "gk-sea-auth", body);
  html("h5", "", authSec, "last auth");
  st.authSummary = html("div", "gk-sea-auth-summary", authSec);
  st.authBox = html("div", "", authSec);
}

// ---------- the report: who, counts, aliases, fields, notes ----------
// A soul of the user's space with the key shortened: ~4FVO7H00…czjxs/profile
function shortener(r) {
  const pub = String(r.pub || "");
  const own = `~${pub}`;
  return (soul) => (pub && soul.startsWith(own) ? `~${r.pub_short || pub}${soul.slice(own.length)}` : soul);
}
function drawWho(st, r) {
  const pub = String(r.pub || "");
  st.who.textContent = `${r.alias ? r.alias + " " : ""}~${r.pub_short || pub}`;
  st.who.title = pub ? `~${pub}` : "";
  st.title.textContent = String(st.model.get("title") || "SEA");
  st.counts.textContent = "";
  const c = r.counts || {};
  for (const v of VERDICTS) {
    if (!+c[v]) continue;
    const chip = badge(st.counts, v);
    chip.textContent = `${c[v]} ${v}`;
  }
  st.summary.textContent = String(r.summary || "");
}
function drawAliases(st, r) {
  const box = st.aliasBox;
  box.textContent = "";
  const aliases = Array.isArray(r.aliases) ? r.aliases : [];
  if (!aliases.length) return;
  html("span", "gk-muted", box, aliases.length > 1 ? "aliases: " : "alias: ");
  for (const a of aliases) {
    const s = html("code", `gk-sea-alias ${a.ok ? "gk-state-good" : "gk-state-bad"}`, box, `~@${a.alias}`);
    s.title = a.ok ? `${a.soul} links to this user` : `${a.soul} holds a value Gun would refuse`;
    s.dataset.ok = String(!!a.ok);
  }
}
// The "signed by" cell: an invalid field names the key its signature was checked against
// (and failed).
function signerCell(tr, f, pub) {
  const by = html("td", "gk-sea-signer-cell", tr);
  if (!f.signer) {
    html("span", "gk-muted", by, "nobody");
    return;
  }
  if (f.verdict === "invalid") html("span", "gk-sea-not", by, "✗ ").title = "the signature does not match this key";
  const s = html("span", "gk-mono gk-sea-signer", by, String(f.signer_short || f.signer));
  s.title = String(f.signer);
  s.dataset.pub = String(f.signer);
  if (f.signer === pub) html("span", "gk-muted", by, " owner");
}
function fieldRow(tb, soul, f, pub, short) {
  const tr = html("tr", "gk-sea-field", tb);
  tr.dataset.soul = soul;
  tr.dataset.key = String(f.key);
  tr.dataset.verdict = String(f.verdict || "");
  html("td", "gk-sea-key", tr, String(f.key));
  const link = String(f.link || "");
  const text = link ? `→ ${short(link)}` : String(f.value_text ?? "");
  const val = html("td", "gk-value gk-sea-value", tr, `${f.encrypted ? "🔒 " : ""}${text}`);
  val.title = f.encrypted ? `encrypted with SEA: only a key holder can read it\n${f.value_text}` : link ? `→ ${link}` : String(f.value_text ?? "");
  const state = html("td", "gk-mono gk-sea-state", tr, fmtState(f.state));
  const when = +f.state > 1e11 && +f.state < 1e14 ? `${new Date(+f.state).toISOString()}, ` : "";
  state.title = `${when}HAM state ${f.state}`;
  badge(html("td", "", tr), f.verdict);
  signerCell(tr, f, pub);
  const ok = f.verdict === "valid" || f.verdict === "valid-cert";
  html("td", `gk-sea-why${ok ? "" : " gk-sea-fail"}`, tr, String(f.why || ""));
}
// One node's tbody: its soul, then its fields while fewer than MAX_ROWS are shown in all;
// `count` ({n, more}: the fields shown and left out so far) counts them.
function nodeBody(t, node, count, pub, short) {
  const tb = html("tbody", "gk-sea-node", t);
  tb.dataset.soul = String(node.soul);
  const head = html("tr", "gk-sea-node-head", tb);
  const td = html("td", "gk-soul", head);
  td.colSpan = 6;
  const soul = String(node.soul || "");
  html("span", "", td, short(soul)).title = soul;
  if (!node.reached) html("span", "gk-note", td, "  (no link from ~pub reaches it)");
  for (const f of Array.isArray(node.fields) ? node.fields : []) {
    if (count.n >= MAX_ROWS) {
      count.more++;
      continue;
    }
    count.n++;
    fieldRow(tb, soul, f, pub, short);
  }
}
function drawFields(st, r) {
  const box = st.fieldsBox;
  box.textContent = "";
  const nodes = Array.isArray(r.nodes) ? r.nodes : [];
  if (!nodes.length) {
    html("div", "gk-note", box, "this peer's graph holds nothing of that user");
    return;
  }
  const pub = String(r.pub || "");
  const short = shortener(r);
  const t = html("table", "gk-table gk-sea-fields", box);
  const h = html("tr", "", html("thead", "", t));
  for (const x of ["key", "value", "state", "verdict", "signed by", "why"]) html("th", "", h, x);
  const count = { n: 0, more: 0 };
  for (const node of nodes) nodeBody(t, node, count, pub, short);
  if (count.more) html("div", "gk-note", box, `… ${count.more} more fields not shown`);
}
function drawNotes(st, r) {
  const notes = st.notes;
  notes.textContent = "";
  const missing = Array.isArray(r.missing) ? r.missing : [];
  const outside = Array.isArray(r.outside) ? r.outside : [];
  if (missing.length) html("li", "", notes, `linked but not held by this peer: ${missing.join(", ")}`);
  if (outside.length) html("li", "", notes, `links out of the user's space (SEA does not protect them): ${outside.join(", ")}`);
  notes.hidden = !missing.length && !outside.length;
}
function drawReport(st, r) {
  drawWho(st, r);
  drawAliases(st, r);
  drawFields(st, r);
  drawNotes(st, r);
}

// ---------- the last auth ----------
function authRow(tb, r) {
  const tr = html("tr", "gk-auth-step", tb);
  tr.dataset.step = String(r.step);
  tr.dataset.ok = String(!!r.ok);
  html("td", "gk-mono", tr, String(r.n));
  const what = html("td", "", tr, String(r.what || r.step));
  if (r.soul) what.title = String(r.soul);
  html("td", "gk-mono gk-sea-ms", tr, +r.ms ? `${(+r.ms).toFixed(0)} ms` : "");
  html("span", `gk-sea-badge ${r.ok ? "gk-v-valid" : "gk-v-invalid"}`, html("td", "", tr), r.ok ? "ok" : "failed");
  html("td", `gk-sea-why${r.ok ? "" : " gk-sea-fail"}`, tr, String(r.why || ""));
}
function drawAuth(st, a) {
  const rows = Array.isArray(a.rows) ? a.rows : [];
  st.authSummary.textContent = String(a.summary || "no auth on this peer yet");
  const failed = rows.length && !rows[rows.length - 1].ok;
  st.authSummary.classList.toggle("gk-state-bad", !!failed);
  st.authSummary.classList.toggle("gk-state-good", !!rows.length && !failed);
  st.authBox.textContent = "";
  if (!rows.length) return;
  const t = html("table", "gk-table gk-sea-steps", st.authBox);
  const h = html("tr", "", html("thead", "", t));
  for (const x of ["#", "step", "took", "", "what happened"]) html("th", "", h, x);
  const tb = html("tbody", "", t);
  for (const r of rows) authRow(tb, r);
}

// ---------- traits ----------
// Each part is redrawn only when its trait changed.
function draw(st) {
  const r = st.model.get("report") || {};
  const rs = JSON.stringify(r);
  if (rs !== st.sig.report) {
    st.sig.report = rs;
    drawReport(st, r);
  }
  const a = st.model.get("auth") || {};
  const as = JSON.stringify(a);
  if (as !== st.sig.auth) {
    st.sig.auth = as;
    drawAuth(st, a);
  }
}
function onHeight(st) {
  const h = +st.model.get("height");
  st.root.style.maxHeight = h > 0 ? `${h}px` : "";
}
function onTitle(st) {
  st.title.textContent = String(st.model.get("title") || "SEA");
}
function listenAll(st) {
  const { life, model, root } = st;
  const onChange = () => (draw(st), bump(root));
  life.listen(st.refresh, "click", () => model.send({ type: "refresh" }));
  life.listen(model, "change:report", onChange);
  life.listen(model, "change:auth", onChange);
  life.listen(model, "change:height", () => (onHeight(st), bump(root)));
  life.listen(model, "change:title", () => onTitle(st));
}

function render({ model, el }) {
  const st = newState(model);
  const { life } = st;
  st.root = viewRoot(el, "sea", "gk-sea");
  buildHeader(st);
  const drawLive = liveToggle(model, st.header, st.root, life, (live, closed) => {
    st.refresh.hidden = !live || closed; // a frozen view reads nothing again
  });
  errorBanner(model, st.root, null, life);
  buildBody(st);
  listenAll(st);

  onHeight(st);
  draw(st);
  drawLive();
  model.send({ type: "hello" }); // messages sent before this view rendered are lost: ask

  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
