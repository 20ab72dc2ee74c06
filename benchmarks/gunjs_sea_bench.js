// One run of the SEA benchmark on Gun.js (npm gun 0.2020.1241): prints one JSON line.
//   node benchmarks/gunjs_sea_bench.js [seconds-per-op]
// Same ops and sizes as benchmarks/sea_bench.py: sign, verify, encrypt, decrypt per second
// (for ~seconds each, one at a time, awaited), and "auth": the crypto of a password login
// (work(password, salt): PBKDF2 100000 rounds, then decrypt the private keys with the proof),
// in ms, the mean of 3 after one warm-up.
console.log = (...a) => console.error(...a);
process.chdir(__dirname + '/../interop');
const SEA = require(require.resolve('gun/sea', { paths: [process.cwd()] }));
const secs = parseFloat(process.argv[2] || '1');
const DATA = { text: 'hello world', n: 42, list: [1, 2, 3], nested: { a: 'b' } };

async function rate(fn) {
  await fn(); // warm
  let n = 0; const t0 = performance.now(), end = t0 + secs * 1000;
  while (performance.now() < end) { await fn(); n++; }
  return n / ((performance.now() - t0) / 1000);
}

(async () => {
  const p = await SEA.pair();
  const signed = await SEA.sign(DATA, p);
  const sealed = await SEA.encrypt(DATA, p);
  const out = {
    sign: await rate(() => SEA.sign(DATA, p)),
    verify: await rate(() => SEA.verify(signed, p.pub)),
    encrypt: await rate(() => SEA.encrypt(DATA, p)),
    decrypt: await rate(() => SEA.decrypt(sealed, p)),
  };
  const salt = 'a-salt-of-sixty-four-characters-as-user-create-makes-it-0123456';
  const proof = await SEA.work('correct horse battery', salt);
  const ek = await SEA.encrypt({ priv: p.priv, epriv: p.epriv }, proof);
  const login = async () => SEA.decrypt(ek, await SEA.work('correct horse battery', salt));
  if (!(await login())) { throw new Error('login crypto failed'); }
  const t = performance.now();
  for (let i = 0; i < 3; i++) { await login(); }
  out.auth_ms = (performance.now() - t) / 3;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
})();
