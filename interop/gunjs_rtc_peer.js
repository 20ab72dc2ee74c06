// A Gun.js WebRTC peer in Node: npm gun's core (gun/gun) plus its unmodified lib/webrtc, with
// @roamhq/wrtc as the WebRTC implementation. Not require('gun'): its server bundle (AXE, YSON)
// breaks WebRTC signalling. Driven by JSON lines (see lineproto.js), plus:
//   {"cmd":"peers"}              -> {"event":"peers","peers":[{id,url,rtc,open}]}
//   {"cmd":"count",soul,n}       -> "counting", then "progress" every 250 ms, "counted" at n
//   {"cmd":"burst",soul,n}       -> puts n keys one put each: "burst-start", "burst-sent"
//   node gunjs_rtc_peer.js <relay-url> <room>
process.env.MULTICAST = 'false';
const wrtc = require('@roamhq/wrtc');
const Gun = require('gun/gun');
require('gun/lib/webrtc');
const { serve, out } = require('./lineproto');

const [relay, room] = process.argv.slice(2);
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

serve(gun, {
  peers: () => out({
    event: 'peers',
    peers: Object.values(root.opt.peers).map((p) => ({
      id: p.id, url: p.url || null, rtc: isRtc(p),
      open: isRtc(p) ? !!(p.wire && p.wire.readyState === 'open') : !!(p.wire && p.wire.readyState === 1),
    })),
  }),
  // benchmark: count the keys of `soul` as they arrive; the channel is unreliable
  // (maxRetransmits 2), so a burst may lose some: progress says how many so far
  count: (c) => {
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
  },
  // benchmark: put `n` keys of `soul`, one put each, as fast as the loop allows
  burst: (c) => {
    out({ event: 'burst-start', soul: c.soul });
    for (let i = 0; i < c.n; i++) { gun.get(c.soul).get('k' + i).put(i); }
    out({ event: 'burst-sent', soul: c.soul, n: c.n });
  },
}, (peer) => ({ rtc: isRtc(peer) }));
