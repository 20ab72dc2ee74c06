// Fill a Gun.js radisk directory with N souls the way npm gun's own store adapter writes them
// (lib/store.js: one radisk key `soul ESC key` per key, the value {':': value, '>': state}), so
// a Gun.js relay started on it (interop/gunjs_relay.js --radisk DIR) serves them.
//   node gunjs_radisk_fill.js N DIR [STATE]
// Souls are s0000000 ... (7 digits, as benchmarks/store_cache.py names them), keys v (the
// number) and t ("text N"). At most WINDOW writes wait for their flush at once (bounded memory).
// Prints {"souls":N,"seconds":S} when every write has been flushed to disk.
const path = require('path');
const fs = require('fs');
const n = parseInt(process.argv[2], 10);
const dir = path.resolve(process.argv[3]);
const state = parseFloat(process.argv[4] || '1000');
if (!(n > 0)) { throw new Error('usage: node gunjs_radisk_fill.js N DIR [STATE]'); }
fs.mkdirSync(dir, { recursive: true });
require('gun/lib/yson');
const Radisk = require('gun/lib/radisk');
const Store = require('gun/lib/rfs');
const opt = { file: dir, log: () => {} };
opt.store = Store(opt);
const rad = Radisk(opt);
const esc = String.fromCharCode(27);
const WINDOW = 20000;
const t0 = Date.now();
let next = 0;
let pending = 0;
let done = 0;
function soul(i) { return 's' + String(i).padStart(7, '0'); }
function written(err) {
  if (err) { throw new Error('radisk write failed: ' + err); }
  pending -= 1;
  done += 1;
  if (done === 2 * n) {
    process.stdout.write(JSON.stringify({ souls: n, seconds: (Date.now() - t0) / 1000 }) + '\n');
    return;
  }
  if (pending === 0) { pump(); }
}
function pump() {
  while (next < n && pending < WINDOW) {
    const s = soul(next);
    rad(s + esc + 'v', { ':': next, '>': state }, written);
    rad(s + esc + 't', { ':': 'text ' + next, '>': state }, written);
    pending += 2;
    next += 1;
  }
}
pump();
