// A browser tab in a Lab's mesh: npm gun's Gun joins the Lab's relay over a WebSocket, and
// this page shows its pid, its links and one soul's data live, with a box that puts.
// The relay's URL is relative to where the page was served (it then works behind a proxy
// such as jupyter-server-proxy's /proxy/<port>/ too); its query tells the relay which tab
// this is. WebRTC from the tab is off for now (RTCPeerConnection: false).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("gk-config").textContent);
  var relay = new URL(cfg.relay, location.href);
  relay.protocol = relay.protocol === "https:" ? "wss:" : "ws:";
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

  showLinks();
  setInterval(showLinks, 500);
})();
