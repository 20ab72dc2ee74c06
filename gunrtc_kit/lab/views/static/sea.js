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

function render({ model, el }) {
  const life = lifetime();
  const root = viewRoot(el, "sea", "gk-sea");
  const header = html("div", "gk-header", root);
  const title = html("span", "gk-title", header, "SEA");
  const who = html("span", "gk-sea-who", header);
  const counts = html("span", "gk-sea-counts", header);
  html("span", "gk-spring", header);
  const refresh = html("button", "gk-sea-refresh", header, "refresh");
  refresh.title = "verify every field again now";

  const drawLive = liveToggle(model, header, root, life, (live, closed) => {
    refresh.hidden = !live || closed; // a frozen view reads nothing again
  });
  errorBanner(model, root, null, life);
  const body = html("div", "gk-sea-body", root);
  const summary = html("div", "gk-sea-summary", body);
  const aliasBox = html("div", "gk-sea-aliases", body);
  const fieldsSec = html("section", "", body);
  html("h5", "", fieldsSec, "signed fields");
  const fieldsBox = html("div", "", fieldsSec);
  const notes = html("ul", "gk-note gk-sea-notes", body);
  const authSec = html("section", "gk-sea-auth", body);
  html("h5", "", authSec, "last auth");
  const authSummary = html("div", "gk-sea-auth-summary", authSec);
  const authBox = html("div", "", authSec);
  const sig = { report: null, auth: null };

  function drawReport(r) {
    const pub = String(r.pub || "");
    const own = `~${pub}`;
    // a soul of the user's space with the key shortened: ~4FVO7H00…czjxs/profile
    const short = (soul) => (pub && soul.startsWith(own) ? `~${r.pub_short || pub}${soul.slice(own.length)}` : soul);
    who.textContent = `${r.alias ? r.alias + " " : ""}~${r.pub_short || pub}`;
    who.title = pub ? `~${pub}` : "";
    title.textContent = String(model.get("title") || "SEA");
    counts.textContent = "";
    const c = r.counts || {};
    for (const v of VERDICTS) {
      if (!+c[v]) continue;
      const chip = badge(counts, v);
      chip.textContent = `${c[v]} ${v}`;
    }
    summary.textContent = String(r.summary || "");
    aliasBox.textContent = "";
    const aliases = Array.isArray(r.aliases) ? r.aliases : [];
    if (aliases.length) {
      html("span", "gk-muted", aliasBox, aliases.length > 1 ? "aliases: " : "alias: ");
      for (const a of aliases) {
        const s = html("code", `gk-sea-alias ${a.ok ? "gk-state-good" : "gk-state-bad"}`, aliasBox, `~@${a.alias}`);
        s.title = a.ok ? `${a.soul} links to this user` : `${a.soul} holds a value Gun would refuse`;
        s.dataset.ok = String(!!a.ok);
      }
    }
    fieldsBox.textContent = "";
    const nodes = Array.isArray(r.nodes) ? r.nodes : [];
    if (!nodes.length) {
      html("div", "gk-note", fieldsBox, "this peer's graph holds nothing of that user");
    } else {
      const t = html("table", "gk-table gk-sea-fields", fieldsBox);
      const h = html("tr", "", html("thead", "", t));
      for (const x of ["key", "value", "state", "verdict", "signed by", "why"]) html("th", "", h, x);
      let n = 0;
      let more = 0;
      for (const node of nodes) {
        const tb = html("tbody", "gk-sea-node", t);
        tb.dataset.soul = String(node.soul);
        const head = html("tr", "gk-sea-node-head", tb);
        const td = html("td", "gk-soul", head);
        td.colSpan = 6;
        const soul = String(node.soul || "");
        html("span", "", td, short(soul)).title = soul;
        if (!node.reached) html("span", "gk-note", td, "  (no link from ~pub reaches it)");
        for (const f of Array.isArray(node.fields) ? node.fields : []) {
          if (n >= MAX_ROWS) {
            more++;
            continue;
          }
          n++;
          const tr = html("tr", "gk-sea-field", tb);
          tr.dataset.soul = soul;
          tr.dataset.key = String(f.key);
          tr.dataset.verdict = String(f.verdict || "");
          html("td", "gk-sea-key", tr, String(f.key));
          const link = String(f.link || "");
          const text = link ? `→ ${short(link)}` : String(f.value_text ?? "");
          const val = html("td", "gk-value gk-sea-value", tr, `${f.encrypted ? "🔒 " : ""}${text}`);
          val.title = f.encrypted ? `encrypted with SEA: only a key holder can read it\n${f.value_text}` : link ? `→ ${link}` : String(f.value_text ?? "");
          const st = html("td", "gk-mono gk-sea-state", tr, fmtState(f.state));
          const when = +f.state > 1e11 && +f.state < 1e14 ? `${new Date(+f.state).toISOString()}, ` : "";
          st.title = `${when}HAM state ${f.state}`;
          badge(html("td", "", tr), f.verdict);
          const by = html("td", "gk-sea-signer-cell", tr);
          if (f.signer) {
            // an invalid field names the key its signature was checked against (and failed)
            if (f.verdict === "invalid") html("span", "gk-sea-not", by, "✗ ").title = "the signature does not match this key";
            const s = html("span", "gk-mono gk-sea-signer", by, String(f.signer_short || f.signer));
            s.title = String(f.signer);
            s.dataset.pub = String(f.signer);
            if (f.signer === pub) html("span", "gk-muted", by, " owner");
          } else {
            html("span", "gk-muted", by, "nobody");
          }
          const ok = f.verdict === "valid" || f.verdict === "valid-cert";
          html("td", `gk-sea-why${ok ? "" : " gk-sea-fail"}`, tr, String(f.why || ""));
        }
      }
      if (more) html("div", "gk-note", fieldsBox, `… ${more} more fields not shown`);
    }
    notes.textContent = "";
    const missing = Array.isArray(r.missing) ? r.missing : [];
    const outside = Array.isArray(r.outside) ? r.outside : [];
    if (missing.length) html("li", "", notes, `linked but not held by this peer: ${missing.join(", ")}`);
    if (outside.length) html("li", "", notes, `links out of the user's space (SEA does not protect them): ${outside.join(", ")}`);
    notes.hidden = !missing.length && !outside.length;
  }

  function drawAuth(a) {
    const rows = Array.isArray(a.rows) ? a.rows : [];
    authSummary.textContent = String(a.summary || "no auth on this peer yet");
    const failed = rows.length && !rows[rows.length - 1].ok;
    authSummary.classList.toggle("gk-state-bad", !!failed);
    authSummary.classList.toggle("gk-state-good", !!rows.length && !failed);
    authBox.textContent = "";
    if (!rows.length) return;
    const t = html("table", "gk-table gk-sea-steps", authBox);
    const h = html("tr", "", html("thead", "", t));
    for (const x of ["#", "step", "took", "", "what happened"]) html("th", "", h, x);
    const tb = html("tbody", "", t);
    for (const r of rows) {
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
  }

  function draw() {
    const r = model.get("report") || {};
    const rs = JSON.stringify(r);
    if (rs !== sig.report) {
      sig.report = rs;
      drawReport(r);
    }
    const a = model.get("auth") || {};
    const as = JSON.stringify(a);
    if (as !== sig.auth) {
      sig.auth = as;
      drawAuth(a);
    }
  }
  const onChange = () => (draw(), bump(root));
  const onHeight = () => {
    const h = +model.get("height");
    root.style.maxHeight = h > 0 ? `${h}px` : "";
  };
  const onTitle = () => {
    title.textContent = String(model.get("title") || "SEA");
  };
  life.listen(refresh, "click", () => model.send({ type: "refresh" }));
  life.listen(model, "change:report", onChange);
  life.listen(model, "change:auth", onChange);
  life.listen(model, "change:height", () => (onHeight(), bump(root)));
  life.listen(model, "change:title", onTitle);
  onHeight();
  draw();
  drawLive();
  model.send({ type: "hello" }); // messages sent before this view rendered are lost: ask

  return () => {
    life.end();
    root.remove();
  };
}

export default { render };
