// Longer browser-side scenarios for tests/lab/test_frontend.py (kept here, not in Python
// strings). Each takes the fake model of a mounted view and plays Python against it.

const frame = () => new Promise((r) => requestAnimationFrame(r));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Watch the frame rate while `body` runs: {frames, longest} (ms between two frames).
async function watchFrames(body) {
  let frames = 0;
  let longest = 0;
  let last = performance.now();
  let alive = true;
  const tick = (now) => {
    longest = Math.max(longest, now - last);
    last = now;
    frames++;
    if (alive) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const out = await body();
  alive = false;
  return { ...out, frames, longest };
}

const diff = (v, extra) => ({
  type: "diff", from: v, v: v + 1, nodes: [], edges: [], gone_nodes: [], gone_edges: [], pulses: [],
  ...extra,
});

// 25 diffs/s, 10 pulses each, for a second: the most dots alive at once.
export async function pulseStorm(model, v0) {
  let v = v0;
  let peak = 0;
  let alive = true;
  const sample = () => {
    peak = Math.max(peak, document.querySelectorAll(".gk-pulse").length);
    if (alive) requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
  for (let i = 0; i < 25; i++) {
    const ps = [];
    for (let j = 0; j < 10; j++) ps.push(["p-alice|p-bob", j % 2 ? "p-alice" : "p-bob", "get"]);
    model.py.send(diff(v++, { pulses: ps }));
    await sleep(40);
  }
  alive = false;
  await frame();
  return peak;
}

// 55 nodes, 1,485 edges, then 25 diffs/s (40 edges, 3 moved nodes, 10 pulses each).
export async function bigMesh(model) {
  const N = 55;
  const nodes = [];
  const edges = [];
  for (let i = 0; i < N; i++) {
    const a = (2 * Math.PI * i) / N;
    nodes.push({
      id: `n${i}`, pid: `n${i}`, label: `peer${i}`, role: i ? "peer" : "relay",
      x: Math.cos(a), y: Math.sin(a), said: 0, heard: 0, dropped: 0, lost: 0, errors: 0, puts: 0,
    });
  }
  const T = ["ws", "dc", "memory"];
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j < N && edges.length < 1485; j++) {
      edges.push({
        id: `n${i}|n${j}`, a: `n${i}`, b: `n${j}`, transport: T[(i + j) % 3], state: "open",
        count: 0, rate: 0, lost: 0, latency: null, loss: null, partitioned: false,
      });
    }
  }
  let t = performance.now();
  model.py.send({ type: "reset", v: 1, nodes, edges });
  const resetMs = performance.now() - t;
  document.querySelectorAll(".gk-edge").forEach((e) => (e.__mark = 1));
  await frame();
  return watchFrames(async () => {
    let v = 1;
    let worst = 0;
    let sum = 0;
    for (let k = 0; k < 25; k++) {
      const ch = [];
      for (let j = 0; j < 40; j++) ch.push({ ...edges[(k * 40 + j) % edges.length], rate: k + j, count: k });
      const mv = [];
      for (let j = 0; j < 3; j++) {
        const n = nodes[(k * 3 + j) % N];
        mv.push({ ...n, x: n.x * 0.9, y: n.y * 0.9 });
      }
      const ps = [];
      for (let j = 0; j < 10; j++) {
        const e = edges[(k * 10 + j) % edges.length];
        ps.push([e.id, e.a, "put"]);
      }
      t = performance.now();
      model.py.send(diff(v++, { nodes: mv, edges: ch, pulses: ps }));
      const dt = performance.now() - t;
      worst = Math.max(worst, dt);
      sum += dt;
      await sleep(40);
    }
    const kept = [...document.querySelectorAll(".gk-edge")].every((e) => e.__mark === 1);
    return {
      resetMs, worst, mean: sum / 25, kept,
      edges: document.querySelectorAll(".gk-edge").length,
      nodes: document.querySelectorAll(".gk-node").length,
    };
  });
}

// Element id -> [outerHTML, still the same element] for every node and edge.
export function snapshotMesh(mark) {
  const out = {};
  for (const e of document.querySelectorAll(".gk-node, .gk-edge")) {
    if (mark) e.__mark = 1;
    out[e.getAttribute("data-id")] = [e.outerHTML, e.__mark === 1];
  }
  return out;
}

// data-pos of the flow rows whose box shows inside the scroller (below the lane header).
export function visiblePositions() {
  const s = document.querySelector(".gk-scroller").getBoundingClientRect();
  return [...document.querySelectorAll(".gk-row")]
    .filter((r) => {
      const b = r.getBoundingClientRect();
      return b.bottom > s.top + 27 && b.top < s.bottom - 1;
    })
    .map((r) => +r.dataset.pos)
    .sort((a, b) => b - a);
}
