// The JSON-line protocol the tests and benchmarks use to drive a Gun.js peer: events out on
// stdout (each stamped with "t", ms since the epoch), commands in on stdin.
//   events: ready, hi, bye, on, data, ack, once, error (+ whatever `extra` commands print)
//   commands: on {soul}, put {id, soul, data}, once {id, soul}, exit (+ `extra`)
const readline = require('readline');

const out = (obj) => { obj.t = Date.now(); process.stdout.write(JSON.stringify(obj) + '\n'); };

const clean = (v) => {
  if (v && typeof v === 'object') { const o = {}; for (const k of Object.keys(v)) { if (k !== '_') o[k] = v[k]; } return o; }
  return v;
};

function serve(gun, extra = {}, describe = (peer) => ({})) {
  const root = gun._.root;
  root.on('hi', function (peer) { out({ event: 'hi', peer: peer.url || peer.id, pid: peer.pid || null, ...describe(peer) }); this.to.next(peer); });
  root.on('bye', function (peer) { out({ event: 'bye', peer: peer.url || peer.id, ...describe(peer) }); this.to.next(peer); });
  const commands = {
    on: (c) => {
      gun.get(c.soul).map().on((value, key) => out({ event: 'data', soul: c.soul, key, value: clean(value) }));
      out({ event: 'on', soul: c.soul });
    },
    put: (c) => gun.get(c.soul).put(c.data, (ack) => out({ event: 'ack', id: c.id, ok: ack.ok === undefined ? null : ack.ok, err: ack.err || null })),
    once: (c) => gun.get(c.soul).once((value) => out({ event: 'once', id: c.id, soul: c.soul, value: clean(value) === undefined ? null : clean(value) })),
    exit: () => process.exit(0),
    ...extra,
  };
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('close', () => process.exit(0)); // our driver is gone (closed stdin, or died): so are we
  lines.on('line', (line) => {
    let c;
    try { c = JSON.parse(line); } catch (e) { out({ event: 'error', error: 'bad command ' + line }); return; }
    const run = commands[c.cmd];
    if (!run) { out({ event: 'error', error: 'unknown command ' + c.cmd }); return; }
    run(c);
  });
  out({ event: 'ready', pid: root.opt.pid });
}

module.exports = { serve, out, clean };
