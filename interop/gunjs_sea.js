// Gun.js's SEA (npm gun 0.2020.1241) driven by JSON lines, for tests/interop/test_sea_crypto.py
// and interop/capture_sea_vectors.js. Our own driver: it only calls SEA's public functions.
//   node gunjs_sea.js          then one command per line on stdin, one answer per line:
//   {"id":1,"cmd":"sign","data":...,"pair":{...}}  ->  {"event":"result","id":1,"value":...,"undefined":false}
// Commands: pair, sign {data, pair}, verify {data, pub}, encrypt {data, key}, decrypt {data, key},
//   work {data, salt, opt}, secret {epub, pair}, certify {certificants, policy, authority, opt},
//   certput {cert, certificant, authority_pub, path, key, value, state?}: a write into the
//   authority's graph by the certificant, carrying the cert, fed to a Gun instance as if it
//   came off the wire; answers {stored, errs} (errs: Gun's `err` replies).
// console.log goes to stderr: Gun's banner and SEA's error logs must not mix with answers.
console.log = (...a) => console.error(...a);
process.env.MULTICAST = 'false';
const Gun = require('gun');
const SEA = require('gun/sea');

const fns = {
  pair: () => SEA.pair(),
  sign: (c) => SEA.sign(c.data, c.pair),
  verify: (c) => SEA.verify(c.data, c.pub),
  encrypt: (c) => SEA.encrypt(c.data, c.key),
  decrypt: (c) => SEA.decrypt(c.data, c.key),
  work: (c) => SEA.work(c.data, c.salt === null ? undefined : c.salt, null, c.opt || {}),
  secret: (c) => SEA.secret(c.epub, c.pair),
  certify: (c) => SEA.certify(c.certificants, c.policy, c.authority, null, c.opt || {}),
  certput: (c) => certput(c),
};

let gun = null;
let n = 0;
const errs = {};
function instance() {
  if (gun) return gun;
  gun = Gun({ peers: [], multicast: false, radisk: false, localStorage: false, file: false, axe: false });
  gun._.root.on('in', function (msg) {
    if (msg['@'] && msg.err) (errs[msg['@']] = errs[msg['@']] || []).push(String(msg.err));
    this.to.next(msg);
  });
  return gun;
}

async function certput(c) {
  const g = instance(), root = g._.root;
  const soul = '~' + c.authority_pub + (c.path ? '/' + c.path : '');
  const state = c.state || Gun.state();
  const signed = await SEA.sign({ '#': soul, '.': c.key, ':': c.value, '>': state }, c.certificant, null, { raw: 1 });
  const cert = typeof c.cert === 'string' && c.cert.slice(0, 4) === 'SEA{' ? JSON.parse(c.cert.slice(3)) : c.cert;
  const stored = JSON.stringify({ ':': c.value, '~': signed.s, '+': cert, '*': c.certificant.pub });
  const id = 'certput' + (++n) + '_' + Math.random().toString(36).slice(2);
  const node = { _: { '#': soul, '>': { [c.key]: state } }, [c.key]: stored };
  root.on('in', { '#': id, put: { [soul]: node } });
  await new Promise((r) => setTimeout(r, c.wait || 150));
  const have = (root.graph[soul] || {})[c.key];
  return { stored: have === stored, errs: errs[id] || [] }; // this write's value, not an older one
}

async function run(c) {
  const fn = fns[c.cmd];
  if (!fn) return { error: 'unknown command ' + c.cmd };
  try {
    const value = await fn(c);
    return { value: value === undefined ? null : value, undefined: value === undefined };
  } catch (e) {
    return { error: String(e && e.stack || e) };
  }
}

function serve() {
  const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  let chain = Promise.resolve(); // one command at a time, answered in order
  const handle = async (line) => {
    let c;
    try { c = JSON.parse(line); } catch (e) { out({ event: 'error', error: 'bad command ' + line }); return; }
    if (c.cmd === 'exit') process.exit(0);
    out({ event: 'result', id: c.id, ...(await run(c)) });
  };
  require('readline').createInterface({ input: process.stdin })
    .on('line', (line) => { chain = chain.then(() => handle(line)); })
    .on('close', () => chain.then(() => process.exit(0)));
  out({ event: 'ready' });
}

if (require.main === module) serve();
module.exports = { run, SEA, Gun };
