// Writes tests/unit/sea_vectors.json: what Gun.js's SEA (npm gun 0.2020.1241) produces and
// accepts, for tests/unit/test_sea.py to check our gunrtc_kit.sea against, offline.
//   cd interop && node capture_sea_vectors.js [../tests/unit/sea_vectors.json]
// Every SEA call goes through gunjs_sea.js's `run`, the same driver the interop tests use.
const fs = require('fs');
const path = require('path');
const { run } = require('./gunjs_sea.js');

async function call(cmd, args) {
  const r = await run({ cmd, ...args });
  if (r.error) throw new Error(cmd + ': ' + r.error);
  return r.undefined ? undefined : r.value;
}

const DATA = [
  'hello', '', '123', '{"a":1}', '"quoted"', 'ünïcödé ☃ 😀 \u0000\u001f\u2028',
  { a: 1, '1': 2, b: 'x' }, [1, 'x', null, true], 0.1, 1e21, 1.5e-7, 123456789012, -42, true,
  false, null, { nested: { x: [1.5, 0.000001, 1e-7, 2 ** 53 + 2], y: {} }, '10': 'ten', '02': 'z' },
  { '#': 'soul', '.': 'key', ':': 'value', '>': 1700000000000.5 },
];

const WORK = [
  ['password', 'salt', {}],
  ['password', 'salt', { encode: 'hex' }],
  ['password', 'salt', { encode: 'utf8' }],
  ['pässwörd ☃', 'sält 😀', {}],
  ['', 'salt', {}],
  [{ a: 1, '1': 2 }, 'salt', {}],
  [12345, 'salt', {}],
  ['password', 'salt', { iterations: 1000, length: 256 }],
  ['password', 'salt', { iterations: 1000, hash: { name: 'SHA-512' } }],
  ['password', 'salt', { iterations: 1000, hash: 'SHA-1', length: 160, encode: 'hex' }],
  ['password', 'pair', { iterations: 1000 }],
  ['hello', null, { name: 'SHA-256' }],
  ['hello', 'ignored', { name: 'SHA-256', encode: 'hex' }],
  ['hello', null, { name: 'sha-1', encode: 'hex' }],
  ['hello', null, { name: 'SHA-384' }],
  ['hello', null, { name: 'SHA-512', encode: 'utf8' }],
  [{ x: [1, 2.5] }, null, { name: 'SHA-256' }],
  ['ünïcödé', null, { name: 'SHA-256' }],
];

async function main() {
  const out = process.argv[2] || path.join(__dirname, '..', 'tests', 'unit', 'sea_vectors.json');
  const [A, B, C] = [await call('pair', {}), await call('pair', {}), await call('pair', {})];
  const v = {
    about: 'Captured from npm gun ' + require('gun/package.json').version + ' on node ' + process.version +
      ' by interop/capture_sea_vectors.js; regenerate with: cd interop && node capture_sea_vectors.js',
    pairs: { A, B, C },
    sign: [], encrypt: [], work: [], secret: [], certify: [],
  };
  for (const data of DATA) {
    const signed = await call('sign', { data, pair: A });
    const back = await call('verify', { data: signed, pub: A.pub });
    v.sign.push({ data, signed, verified: back === undefined ? null : back });
  }
  for (const data of DATA) {
    for (const [kind, key] of [['pair', A], ['passphrase', 'correct horse ☃'], ['secret', null]]) {
      const k = kind === 'secret' ? await call('secret', { epub: B.epub, pair: A }) : key;
      const sealed = await call('encrypt', { data, key: k });
      const back = await call('decrypt', { data: sealed, key: k });
      v.encrypt.push({ data, key: kind === 'secret' ? { secret_of: ['B.epub', 'A'] } : k, kind, sealed, decrypted: back === undefined ? null : back });
    }
  }
  for (const [data, salt, opt] of WORK) {
    const s = salt === 'pair' ? A : salt;
    const proof = await call('work', { data, salt: s, opt });
    v.work.push({ data, salt: salt === 'pair' ? { pair: 'A' } : salt, opt, proof });
  }
  for (const [x, y] of [['A', 'B'], ['B', 'A'], ['A', 'C'], ['C', 'B'], ['A', 'A']]) {
    const pairs = { A, B, C };
    v.secret.push({ epub_of: y, pair: x, secret: await call('secret', { epub: pairs[y].epub, pair: pairs[x] }) });
  }
  const now = Date.now();
  let serial = 0;
  const CERTS = [
    { name: 'anyone-inbox', certificants: '*', policy: 'inbox', opt: {} },
    { name: 'bob-inbox-prefix', certificants: B.pub, policy: { '#': { '*': 'inbox' } }, opt: {} },
    { name: 'bob-pair-key-prefix', certificants: [B], policy: { '.': { '*': 'msg' } }, opt: {} },
    { name: 'list-bob-carol', certificants: [B.pub, C], policy: { '#': { '*': 'inbox' } }, opt: {} },
    { name: 'bob-own-path', certificants: B, policy: [{ '#': { '*': 'inbox' }, '+': '*' }], opt: {} },
    { name: 'bob-expired', certificants: B.pub, policy: { write: 'inbox' }, opt: { expiry: now - 60000 } },
    { name: 'bob-unexpired', certificants: B.pub, policy: { write: 'inbox', read: 'inbox' }, opt: { expiry: now + 3600e3 } },
    { name: 'bob-range', certificants: B.pub, policy: { '#': { '>': 'b', '<': 'd' } }, opt: {} },
    { name: 'bob-exact-key', certificants: B.pub, policy: { '#': 'box', '.': 'slot' }, opt: {} },
    { name: 'bob-blocklist', certificants: B.pub, policy: 'inbox', opt: { block: 'blocked' } },
  ];
  const WRITES = [
    ['inbox', 'k1'], ['inbox/sub', 'k2'], ['outbox', 'k3'], ['', 'inbox'], ['', 'msg1'],
    ['inbox', 'msgX'], ['c', 'k4'], ['box', 'slot'], ['box', 'other'], ['inbox-' + B.pub, 'k5'],
    ['e', 'k6'],
  ];
  for (const spec of CERTS) {
    const cert = await call('certify', { certificants: spec.certificants, policy: spec.policy, authority: A, opt: spec.opt });
    const entry = { ...spec, cert, writes: [] };
    for (const [who, pairOf] of [['B', B], ['C', C]]) {
      for (const [p, key] of WRITES) {
        const state = Date.now();
        const value = 'v' + (++serial);
        const r = await call('certput', { cert, certificant: pairOf, authority_pub: A.pub, path: p, key, value, state, wait: spec.opt.block ? 400 : 60 });
        entry.writes.push({ writer: who, path: p, key, value, state, stored: r.stored, errs: r.errs });
      }
    }
    v.certify.push(entry);
  }
  fs.writeFileSync(out, JSON.stringify(v, null, 1) + '\n');
  console.error('wrote ' + out);
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
