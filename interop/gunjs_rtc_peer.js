// A Gun.js WebRTC peer in Node: npm gun's core (gun/gun) plus its unmodified lib/webrtc, with
// @roamhq/wrtc as the WebRTC implementation. Not require('gun'): its server bundle (AXE, YSON)
// breaks WebRTC signalling. Driven by JSON lines, like gunjs_peer.js.
//   node gunjs_rtc_peer.js <relay-url> <room>
// stdout: {"event":"ready","pid"}, {"event":"hi"|"bye","peer","rtc"}, {"event":"data",soul,key,value},
//         {"event":"ack",id,ok,err}, {"event":"peers","peers":[{id,url,rtc,open}]}
// stdin:  {"cmd":"on",soul}, {"cmd":"put",id,soul,data}, {"cmd":"peers"}, {"cmd":"exit"}
process.env.MULTICAST = 'false';

const wrtc = require('@roamhq/wrtc');
const Gun = require('gun/gun');
require('gun/lib/webrtc');
const readline = require('readline');

const [relay, room] = process.argv.slice(2);
const out = (obj) => { obj.t = Date.now(); process.stdout.write(JSON.stringify(obj) + '\n'); };
const gun = Gun({
  peers: relay ? [relay] : [],
  WebSocket: require('ws'),
  localStorage: false, radisk: false, file: false, multicast: false,
  RTCPeerConnection: wrtc.RTCPeerConnection,
  RTCSessionDescription: wrtc.RTCSessionDescription,
  RTCIceCandidate: wrtc.RTCIceCandidate,
  rtc: { iceServers: [], room: room || 'test' },
});
const root = gun._.root;
const isRtc = (peer) => !peer.url && typeof peer.createDataChannel === 'function';
root.on('hi', function (peer) { out({ event: 'hi', peer: peer.url || peer.id, rtc: isRtc(peer) }); this.to.next(peer); });
root.on('bye', function (peer) { out({ event: 'bye', peer: peer.url || peer.id, rtc: isRtc(peer) }); this.to.next(peer); });
const clean = (v) => {
  if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) { if (k !== '_') o[k] = v[k]; } return o; }
  return v;
};
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let c;
  try { c = JSON.parse(line); } catch (e) { out({ event: 'error', error: 'bad command ' + line }); return; }
  if (c.cmd === 'on') {
    gun.get(c.soul).map().on((value, key) => out({ event: 'data', soul: c.soul, key, value: clean(value) }));
    out({ event: 'on', soul: c.soul });
  } else if (c.cmd === 'put') {
    gun.get(c.soul).put(c.data, (ack) => out({ event: 'ack', id: c.id, ok: ack.ok === undefined ? null : ack.ok, err: ack.err || null }));
  } else if (c.cmd === 'count') {
    // benchmark: report once `n` keys of `soul` have arrived
    // (and every 250 ms how many so far, with the time of the last arrival: the channel is
    // unreliable, maxRetransmits 2, so a burst may lose some)
    const seen = new Set();
    let last = 0;
    gun.get(c.soul).map().on((value, key) => {
      if (seen.has(key)) { return; }
      seen.add(key);
      last = Date.now();
      if (seen.size === c.n) { out({ event: 'counted', soul: c.soul, n: c.n, last }); }
    });
    setInterval(() => out({ event: 'progress', soul: c.soul, n: seen.size, last }), 250);
    out({ event: 'counting', soul: c.soul });
  } else if (c.cmd === 'burst') {
    // benchmark: put `n` keys of `soul`, one put each, as fast as the loop allows
    out({ event: 'burst-start', soul: c.soul });
    for (let i = 0; i < c.n; i++) { gun.get(c.soul).get('k' + i).put(i); }
    out({ event: 'burst-sent', soul: c.soul, n: c.n });
  } else if (c.cmd === 'peers') {
    const peers = Object.values(root.opt.peers).map((p) => ({
      id: p.id, url: p.url || null, rtc: isRtc(p),
      open: isRtc(p) ? !!(p.wire && p.wire.readyState === 'open') : !!(p.wire && p.wire.readyState === 1),
    }));
    out({ event: 'peers', peers });
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
});
out({ event: 'ready', pid: root.opt.pid });
