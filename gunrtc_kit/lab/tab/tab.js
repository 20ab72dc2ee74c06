// A browser tab in a Lab's mesh: npm gun's Gun joins the Lab's relay over a WebSocket, and
// this page shows its pid, its links and one soul's data live, with a box that puts.
// The relay's URL is relative to where the page was served (it then works behind a proxy
// such as jupyter-server-proxy's /proxy/<port>/ too); its query tells the relay which tab
// this is. WebRTC from the tab is off for now (RTCPeerConnection: false).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("gk-config").textContent);
  var relay = new URL(cfg.relay, location.href);
  if (relay.protocol === "https:") relay.protocol = "wss:";
  else if (relay.protocol === "http:") relay.protocol = "ws:";
  relay.searchParams.set("tab", cfg.token);
  var opts = { peers: [relay.href], localStorage: false };
  if (cfg.room) {
    opts.rtc = { iceServers: [], room: cfg.room };
  } else {
    opts.RTCPeerConnection = false;
  }
  var gun = Gun(opts);
  window.gun = gun;

  var $ = function (id) { return document.getElementById(id); };
  $("gk-name").textContent = cfg.name;
  $("gk-soul").textContent = cfg.soul;
  var STATES = ["connecting", "open", "closing", "closed"];

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function showLinks() {
    $("gk-pid").textContent = gun._.opt.pid || "…";
    var peers = gun._.opt.peers || {};
    var body = $("gk-links");
    body.textContent = "";
    Object.keys(peers).forEach(function (id) {
      var p = peers[id];
      var wire = p.wire;
      var state = wire && typeof wire.readyState === "number" ? STATES[wire.readyState] : "closed";
      var row = document.createElement("tr");
      cell(row, p.url ? "ws" : "dc");
      cell(row, p.url === relay.href ? "the Lab's relay" : id);
      cell(row, p.pid || "");
      cell(row, p.met ? state : state === "open" ? "open (no hello yet)" : state, state);
      body.appendChild(row);
    });
  }

  var data = {};
  function showData() {
    var body = $("gk-data");
    body.textContent = "";
    var keys = Object.keys(data).sort();
    keys.forEach(function (k) {
      var row = document.createElement("tr");
      row.dataset.key = k;
      cell(row, k);
      cell(row, typeof data[k] === "string" ? data[k] : JSON.stringify(data[k]));
      body.appendChild(row);
    });
    $("gk-empty").hidden = keys.length > 0;
  }
  gun.get(cfg.soul).map().on(function (value, key) {
    data[key] = value && typeof value === "object" ? "(a node)" : value;
    showData();
  });

  $("gk-put").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = $("gk-key").value;
    var ack = $("gk-ack");
    ack.textContent = "putting…";
    gun.get(cfg.soul).get(key).put($("gk-value").value, function (reply) {
      ack.textContent = reply.err ? "error: " + reply.err : "acked";
    });
  });

  // What only the tab can see (its own links, and its WebRTC links' getStats) goes to the Lab
  // once a second as a beacon: a GET the relay hands to the Lab, not a message in the mesh.
  // Compact and capped, so it fits in one request line.
  var CAP = 8;
  function pick(o, keys) {
    var out = {};
    keys.forEach(function (k) { if (o[k] !== undefined) out[k] = o[k]; });
    return out;
  }
  function rtcStats(pc) {
    if (!pc.getStats) return Promise.resolve(null);
    return pc.getStats().then(function (report) {
      var s = { pc: pc.connectionState, ice: pc.iceConnectionState, lc: [], rc: [], pairs: [],
                dc: [], buf: pc.wire ? pc.wire.bufferedAmount : 0 };
      report.forEach(function (r) {
        if (r.type === "transport") {
          s.dtls = r.dtlsState; s.sel = r.selectedCandidatePairId;
        } else if (r.type === "local-candidate" || r.type === "remote-candidate") {
          var list = r.type === "local-candidate" ? s.lc : s.rc;
          if (list.length < CAP) {
            list.push(pick(r, ["id", "address", "port", "protocol", "candidateType"]));
          }
        } else if (r.type === "candidate-pair" && s.pairs.length < CAP) {
          s.pairs.push(pick(r, ["id", "localCandidateId", "remoteCandidateId", "state",
                                "nominated", "currentRoundTripTime"]));
        } else if (r.type === "data-channel" && s.dc.length < 2) {
          s.dc.push(pick(r, ["label", "state", "messagesSent", "bytesSent",
                             "messagesReceived", "bytesReceived"]));
        }
      });
      return s;
    }).catch(function () { return null; });
  }
  function report() {
    var peers = gun._.opt.peers || {};
    var ids = Object.keys(peers).slice(0, 32);
    var links = ids.map(function (id) {
      var p = peers[id], w = p.wire;
      var state = w && typeof w.readyState === "number" ? STATES[w.readyState] : w ? w.readyState : "closed";
      return { pid: p.pid || (p.url ? "" : id), t: p.url ? "ws" : "dc", state: state };
    });
    var rtc = {};
    return Promise.all(ids.map(function (id) {
      var p = peers[id];
      if (p.url) return null;
      return rtcStats(p).then(function (s) { if (s) rtc[id] = s; });
    })).then(function () {
      return { pid: gun._.opt.pid, ua: navigator.userAgent, links: links, rtc: rtc };
    });
  }
  function beacon() {
    report().then(function (r) {
      var q = "beacon?r=" + encodeURIComponent(JSON.stringify(r));
      if (q.length > 7000) {  // too long for one request line: the links without their stats
        r.rtc = {};
        q = "beacon?r=" + encodeURIComponent(JSON.stringify(r));
      }
      return fetch(q, { cache: "no-store" });
    }).then(function (reply) {
      return reply && reply.status === 200 ? reply.json() : null;
    }).then(asked).catch(function () {});  // the relay may be gone: the tab keeps working
  }
  // What the Lab asks of the tab in the answer to its beacon (tab.put in Python): puts its own
  // Gun makes, as the box would.
  function asked(what) {
    if (!what || !Array.isArray(what.put)) return;
    what.put.forEach(function (kv) {
      if (!Array.isArray(kv) || typeof kv[0] !== "string") return;
      $("gk-ack").textContent = "putting " + kv[0] + " (asked by the Lab)…";
      gun.get(cfg.soul).get(kv[0]).put(kv[1], function (reply) {
        $("gk-ack").textContent = reply.err ? "error: " + reply.err : kv[0] + " acked";
      });
    });
  }

  showLinks();
  setInterval(showLinks, 500);
  if (cfg.beacon) {
    beacon();
    setInterval(beacon, cfg.beacon * 1000);
  }
})();
