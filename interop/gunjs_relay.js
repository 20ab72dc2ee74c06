// npm gun's relay (the server bundle: AXE, SEA, wire.js), on 127.0.0.1, for tests and benchmarks.
//   node gunjs_relay.js <port> [--radisk DIR] [--sea] [--capture FILE [--capture-max BYTES]]
// --sea requires gun/sea explicitly and says so in the listening line ("sea": true). The server
// bundle (require('gun') -> lib/server.js) already tries to load SEA, so the checks run either
// way when gun/sea loads; the flag makes a test that relies on them fail loudly if it cannot.
// Multicast is off. Without --radisk the relay keeps data in memory only (and then sends no
// storage acks, as Gun.js does). Prints {"event":"listening","port":N,"pid":...} when ready.
//
// --capture FILE records every frame the relay hears and says on each WebSocket, one JSON
// object a line (the "frame capture" of docs/trace.md; gunrtc_kit.capture reads it):
//   {"format":"gun-frame-capture","version":1,"t":ms,"relay":pid,"addr":"127.0.0.1:PORT","max":N}
//   {"t":ms,"dir":"open"|"in"|"out"|"close","conn":"1","addr":"127.0.0.1:50123","frame":"..."}
// (frame only on in/out). It hooks the `ws` server our driver makes and hands to Gun
// (opt.ws.web): node_modules stay untouched. Bounded: past --capture-max bytes (default 64 MiB)
// it writes one {"dir":"limit"} line, stops recording and says so on stderr; the relay runs on.
process.env.MULTICAST = 'false';
const path = require('path');
const http = require('http');
const fs = require('fs');
const args = process.argv.slice(2);
const port = parseInt(args[0] || '8765', 10);
const i = args.indexOf('--radisk');
const dir = i >= 0 ? path.resolve(args[i + 1]) : null;
if (dir) { fs.mkdirSync(dir, { recursive: true }); }
const Gun = require('gun');
if (args.includes('--sea')) { require('gun/sea'); }
const server = http.createServer(Gun.serve);
const opt = { web: server, multicast: false, stats: false, localStorage: false };
if (dir) { opt.file = dir; opt.radisk = true; } else { opt.radisk = false; opt.file = false; }
const capture = makeCapture(args);
if (capture) { opt.ws = { server, path: '/gun', web: capture.server(server) }; }
server.listen(port, '127.0.0.1', () => {
  const gun = Gun(opt);
  if (capture) { capture.head(gun._.opt.pid, port); }
  process.stdout.write(JSON.stringify({ event: 'listening', port, pid: gun._.opt.pid, radisk: !!dir, sea: !!Gun.SEA, capture: capture ? capture.file : null }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// The frame recorder: null without --capture. Writes are synchronous so lines keep the order
// in which the relay heard and said the frames (a frame heard is written before Gun handles it).
function makeCapture(argv) {
  const c = argv.indexOf('--capture');
  if (c < 0) { return null; }
  const file = path.resolve(argv[c + 1]);
  const m = argv.indexOf('--capture-max');
  const max = m >= 0 ? parseInt(argv[m + 1], 10) : 64 * 1024 * 1024;
  if (!(max > 0)) { throw new Error('--capture-max needs a positive number of bytes'); }
  let fd = fs.openSync(file, 'w');
  let bytes = 0;
  let conns = 0;
  function write(obj) {
    if (fd === null) { return; }
    const line = JSON.stringify(obj) + '\n';
    const n = Buffer.byteLength(line);
    if (bytes + n > max) {
      fs.writeSync(fd, JSON.stringify({ t: Date.now(), dir: 'limit', bytes, max }) + '\n');
      fs.closeSync(fd);
      fd = null;
      process.stderr.write(`gunjs_relay: capture stopped at ${bytes} bytes (--capture-max ${max}): ${file}\n`);
      return;
    }
    fs.writeSync(fd, line);
    bytes += n;
  }
  function text(data) { return Buffer.isBuffer(data) ? data.toString('utf8') : String(data); }
  function server(web) {
    const WebSocket = require('ws'); // the same ws Gun would load (interop/node_modules/ws)
    const wss = new WebSocket.Server({ server: web, path: '/gun' });
    // registered before Gun's own 'connection' listener, so ours sees each frame first
    wss.on('connection', (wire, req) => {
      const conn = String(++conns);
      const sock = (req && req.socket) || {};
      const addr = `${sock.remoteAddress}:${sock.remotePort}`;
      write({ t: Date.now(), dir: 'open', conn, addr });
      wire.on('message', (data) => write({ t: Date.now(), dir: 'in', conn, addr, frame: text(data) }));
      const send = wire.send;
      wire.send = function (data, ...rest) {
        write({ t: Date.now(), dir: 'out', conn, addr, frame: text(data) });
        return send.call(this, data, ...rest);
      };
      wire.on('close', () => write({ t: Date.now(), dir: 'close', conn, addr }));
    });
    return wss;
  }
  function head(pid, listenPort) {
    write({ format: 'gun-frame-capture', version: 1, t: Date.now(), relay: pid, addr: `127.0.0.1:${listenPort}`, max });
  }
  return { file, server, head };
}
