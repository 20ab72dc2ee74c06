// npm gun's relay (the server bundle: AXE, SEA, wire.js), on 127.0.0.1, for tests and benchmarks.
//   node gunjs_relay.js <port> [--radisk DIR] [--sea]
// --sea requires gun/sea explicitly and says so in the listening line ("sea": true). The server
// bundle (require('gun') -> lib/server.js) already tries to load SEA, so the checks run either
// way when gun/sea loads; the flag makes a test that relies on them fail loudly if it cannot.
// Multicast is off. Without --radisk the relay keeps data in memory only (and then sends no
// storage acks, as Gun.js does). Prints {"event":"listening","port":N,"pid":...} when ready.
process.env.MULTICAST = 'false';
const path = require('path');
const http = require('http');
const args = process.argv.slice(2);
const port = parseInt(args[0] || '8765', 10);
const i = args.indexOf('--radisk');
const dir = i >= 0 ? path.resolve(args[i + 1]) : null;
if (dir) { require('fs').mkdirSync(dir, { recursive: true }); }
const Gun = require('gun');
if (args.includes('--sea')) { require('gun/sea'); }
const server = http.createServer(Gun.serve);
const opt = { web: server, multicast: false, stats: false, localStorage: false };
if (dir) { opt.file = dir; opt.radisk = true; } else { opt.radisk = false; opt.file = false; }
server.listen(port, '127.0.0.1', () => {
  const gun = Gun(opt);
  process.stdout.write(JSON.stringify({ event: 'listening', port, pid: gun._.opt.pid, radisk: !!dir, sea: !!Gun.SEA }) + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
