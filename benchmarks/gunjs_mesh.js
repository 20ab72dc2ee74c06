// Gun.js side of the mesh-scale benchmark: N Gun instances in one Node process, joined by
// in-memory wires (each frame delivered on the next turn, as our memory wires do), in the
// same topology as mesh_bench.py (a ring plus seeded random chords). One put floods from
// peer 0; prints one JSON object: "ms" (time until every peer holds it), "frames",
// "messages", "heap_per_peer" (V8 heapUsed grown by the build, after a full GC), the process
// RSS grown by the build and its peak ("rss_per_peer", "peak_rss_per_peer", read from
// /proc/self/status as mesh_bench.py reads it) and the GC pauses during the flood.
//   node --expose-gc benchmarks/gunjs_mesh.js <n> <chords>
//   node benchmarks/gunjs_mesh.js curve [--sizes 100,1000,5000,10000] [--repeat 5] [--chords 2]
// "curve" runs every size <repeat> times, each in a fresh process (sizes interleaved), and
// prints {"side": "gunjs", "sizes": {n: {key: {median, min, max}}}, "runs": ...}.
const path = require('path');
const fs = require('fs');

function procStatus() {
  const out = {};
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const m = /^(VmRSS|VmHWM):\s+(\d+)\s+kB/.exec(line);
    if (m) out[m[1]] = parseInt(m[2], 10) * 1024;
  }
  return out;
}

function curve(argv) {
  const { spawnSync } = require('child_process');
  const opt = { sizes: '100,1000,5000,10000', repeat: '5', chords: '2' };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(sizes|repeat|chords)$/.exec(argv[i]);
    if (m) opt[m[1]] = argv[++i];
  }
  const sizes = opt.sizes.split(',').map((s) => parseInt(s, 10));
  const runs = {};
  for (const n of sizes) runs[n] = [];
  for (let r = 0; r < parseInt(opt.repeat, 10); r++) {
    for (const n of sizes) {
      const p = spawnSync(process.execPath, ['--expose-gc', __filename, String(n), opt.chords],
        { encoding: 'utf8', timeout: 900000, maxBuffer: 1 << 24 });
      if (p.status !== 0) throw new Error(`run of ${n} failed: ${p.stderr}`);
      const lines = p.stdout.trim().split('\n');
      runs[n].push(JSON.parse(lines[lines.length - 1]));
    }
  }
  const keys = ['ms', 'us_per_message', 'messages', 'frames', 'rss_per_peer', 'peak_rss_per_peer',
    'peak_rss_mb', 'heap_per_peer', 'gc_ms', 'build_ms'];
  const spread = (xs) => {
    const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
    return { median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, min: s[0], max: s[s.length - 1] };
  };
  const table = {};
  for (const n of sizes) {
    table[n] = {};
    for (const k of keys) table[n][k] = spread(runs[n].map((x) => x[k]));
    table[n].heap_source = 'V8 heapUsed after a full GC, same runs';
  }
  process.stdout.write(JSON.stringify({ side: 'gunjs', chords: parseInt(opt.chords, 10),
    repeat: parseInt(opt.repeat, 10), node: process.version, sizes: table, runs }) + '\n');
}

if (process.argv[2] === 'curve') {
  curve(process.argv.slice(3));
} else {
  flood();
}

function flood() {
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

  const Gun = require(path.join(__dirname, '..', 'interop', 'node_modules', 'gun', 'gun'));
  // give every instance a mesh at creation, as the WebSocket adapter would (WebSocket is off)
  Gun.on('opt', function (root) {
    this.to.next(root);
    if (!root.once && !root.opt.mesh) { root.opt.mesh = Gun.Mesh(root); }
  });
  // GC pauses, as gc.callbacks times them on our side
  const { PerformanceObserver, performance } = require('perf_hooks');
  let gcMs = 0, gcCount = 0, floodStart = Infinity, floodEnd = Infinity;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.startTime >= floodStart && e.startTime <= floodEnd) { gcMs += e.duration; gcCount++; }
    }
  }).observe({ entryTypes: ['gc'] });

  global.gc && global.gc();
  const rss0 = procStatus().VmRSS;
  const before = process.memoryUsage().heapUsed;
  let frames = 0, messages = 0;
  const tBuild = process.hrtime.bigint();
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
  const buildMs = Number(process.hrtime.bigint() - tBuild) / 1e6;
  global.gc && global.gc();
  const heap = (process.memoryUsage().heapUsed - before) / n;
  setTimeout(() => {
    global.gc && global.gc();  // the flood starts with a collected heap, as ours does
    const rssBuilt = procStatus().VmRSS;
    frames = 0; messages = 0;
    // peers still without the put: checked once per turn, each peer dropped once it has it
    let pending = gs.slice(1);
    floodStart = performance.now();
    const t0 = process.hrtime.bigint();
    gs[0].get('flood').put({ v: 1 });
    const check = () => {
      pending = pending.filter((g) => (g._.graph.flood || {}).v !== 1);
      if (!pending.length) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        floodEnd = performance.now();
        setTimeout(() => {
          const st = procStatus();
          process.stdout.write(JSON.stringify({
            ms,
            us_per_message: messages ? ms * 1000 / messages : null,
            frames,
            messages,
            heap_per_peer: heap,
            rss_per_peer: (rssBuilt - rss0) / n,
            peak_rss_per_peer: (st.VmHWM - rss0) / n,
            rss_built_mb: rssBuilt / 2 ** 20,
            peak_rss_mb: st.VmHWM / 2 ** 20,
            gc_ms: gcMs,
            gc_collections: gcCount,
            build_ms: buildMs,
            peers: n,
            edges: edges.length,
          }) + '\n');
          process.exit(0);
        }, 200);
        return;
      }
      setImmediate(check);
    };
    check();
  }, 500);
}
