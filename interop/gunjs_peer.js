// A plain Gun.js peer (npm gun, WebSocket only), driven by JSON lines on stdin.
// Used by the interop tests: it prints what it sees, and does what it is told.
//   node gunjs_peer.js <peer-url> [<peer-url> ...]
// stdout events: {"event":"ready","pid"}, {"event":"hi","peer"}, {"event":"bye","peer"},
//   {"event":"data","soul","key","value"}, {"event":"ack","id","ok","err"}, {"event":"once",...}
// stdin commands: {"cmd":"on","soul"}, {"cmd":"put","id","soul","data"},
//   {"cmd":"once","id","soul"}, {"cmd":"exit"}
process.env.MULTICAST = 'false';
const Gun = require('gun');
const readline = require('readline');

const peers = process.argv.slice(2);
const gun = Gun({ peers, multicast: false, radisk: false, localStorage: false, file: false, axe: false, web: undefined });
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const root = gun._.root;
root.on('hi', function (peer) { out({ event: 'hi', peer: peer.url || peer.id, pid: peer.pid || null }); this.to.next(peer); });
root.on('bye', function (peer) { out({ event: 'bye', peer: peer.url || peer.id }); this.to.next(peer); });

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
  } else if (c.cmd === 'once') {
    gun.get(c.soul).once((value) => out({ event: 'once', id: c.id, soul: c.soul, value: clean(value) === undefined ? null : clean(value) }));
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
});
out({ event: 'ready', pid: root.opt.pid });
