// Gun.js side of the mesh-scale benchmark: N Gun instances in one Node process, joined by
// in-memory wires (each frame delivered on the next turn, as our memory wires do), in the
// same topology as mesh_bench.py (a ring plus seeded random chords). One put floods from
// peer 0; prints {"ms": time until every peer holds it, "frames", "messages", "heap_per_peer"}.
//   node --expose-gc benchmarks/gunjs_mesh.js <n> <chords>
const path = require('path');
const Gun = require(path.join(__dirname, '..', 'interop', 'node_modules', 'gun', 'gun'));

const n = parseInt(process.argv[2] || '100', 10);
const chords = parseInt(process.argv[3] || '2', 10);
let seed = 12345;
const rand = () => { seed = (seed * 48271) % 2147483647; return seed / 2147483647; };

const edges = [];
for (let i = 0; i < n; i++) edges.push([i, (i + 1) % n]);
for (let i = 0; i < n * chords / 2; i++) {
  const a = Math.floor(rand() * n), b = Math.floor(rand() * n);
  if (a !== b) edges.push([a, b]);
}

// give every instance a mesh at creation, as the WebSocket adapter would (WebSocket is off)
Gun.on('opt', function (root) {
  this.to.next(root);
  if (!root.once && !root.opt.mesh) { root.opt.mesh = Gun.Mesh(root); }
});
global.gc && global.gc();
const before = process.memoryUsage().heapUsed;
let frames = 0, messages = 0;
const gs = [];
for (let i = 0; i < n; i++) {
  const g = Gun({ peers: [], localStorage: false, radisk: false, file: false, multicast: false, WebSocket: false });
  gs.push(g);
}
let id = 0;
for (const [a, b] of edges) {
  const ma = gs[a]._.opt.mesh, mb = gs[b]._.opt.mesh;
  const pa = { id: 'm' + (id++) }, pb = { id: 'm' + (id++) };
  const count = (raw) => { frames++; messages += raw[0] === '[' ? (raw.match(/\{"#"|,"#"/g) || [1]).length : 1; };
  pa.wire = { send: (raw) => { count(raw); setImmediate(() => mb.hear(raw, pb)); } };
  pb.wire = { send: (raw) => { count(raw); setImmediate(() => ma.hear(raw, pa)); } };
  ma.hi(pa); mb.hi(pb);
}
global.gc && global.gc();
const heap = (process.memoryUsage().heapUsed - before) / n;
setTimeout(() => {
  frames = 0; messages = 0;
  const t0 = process.hrtime.bigint();
  gs[0].get('flood').put({ v: 1 });
  const check = () => {
    if (gs.every((g) => (g._.graph.flood || {}).v === 1)) {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      setTimeout(() => {
        process.stdout.write(JSON.stringify({ ms, frames, messages, heap_per_peer: heap, peers: n, edges: edges.length }) + '\n');
        process.exit(0);
      }, 200);
      return;
    }
    setImmediate(check);
  };
  check();
}, 500);
