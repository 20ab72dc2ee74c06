// A Gun.js peer with SEA users (npm gun + gun/sea), driven by JSON lines (see lineproto.js),
// for the SEA interop tests and for capturing tests/unit/sea_user_graph.json.
//   node gunjs_sea_user.js [<peer-url> ...]
// Extra commands (each answers one event with the same id):
//   create {id, alias, pass}              -> {event:'create', id, err, pub}
//   auth {id, alias, pass} | {id, pair}   -> {event:'auth', id, err, pub, epub, alias}
//   leave {id}                            -> {event:'leave', id, is}
//   pair {id}                             -> {event:'pair', id, pair}   (the logged-in user's keys)
//   uput {id, path, data}                 -> {event:'uput', id, err, ok}  user.get(path...).put(data)
//   uonce {id, path, pub?}                -> {event:'uonce', id, value}  user (or gun.user(pub)) read
//   sign {id, data, pair}                 -> {event:'sign', id, signed}  SEA.sign
//   verify {id, data, pub}                -> {event:'verify', id, value}  SEA.verify (null: failed)
//   work {id, data, salt, opt}            -> {event:'work', id, proof}
//   graph {id}                            -> {event:'graph', id, graph}  the raw in-memory graph
process.env.MULTICAST = 'false';
const Gun = require('gun');
require('gun/sea');
const { serve, out, clean } = require('./lineproto');

const SEA = Gun.SEA;
const peers = process.argv.slice(2);
const gun = Gun({ peers, multicast: false, radisk: false, localStorage: false, file: false, axe: false });
const user = gun.user();

const chainOf = (base, path) => (path || []).reduce((c, k) => c.get(k), base);

serve(gun, {
  create: (c) => user.create(c.alias, c.pass, (ack) => out({ event: 'create', id: c.id, err: ack.err || null, pub: ack.pub || null })),
  auth: (c) => user.auth(...(c.pair ? [c.pair] : [c.alias, c.pass]), (ack) => {
    const is = user.is || {};
    out({ event: 'auth', id: c.id, err: ack.err || null, pub: is.pub || null, epub: is.epub || null, alias: is.alias || null });
  }),
  leave: (c) => { user.leave(); out({ event: 'leave', id: c.id, is: user.is || null }); },
  pair: (c) => out({ event: 'pair', id: c.id, pair: (user._ || {}).sea || null }),
  uput: (c) => chainOf(user, c.path).put(c.data, (ack) => out({ event: 'uput', id: c.id, err: ack.err || null, ok: ack.ok === undefined ? null : ack.ok })),
  uonce: (c) => chainOf(c.pub ? gun.user(c.pub) : user, c.path).once((value) => out({ event: 'uonce', id: c.id, value: value === undefined ? null : clean(value) })),
  sign: async (c) => out({ event: 'sign', id: c.id, signed: (await SEA.sign(c.data, c.pair)) || null }),
  verify: async (c) => { const v = await SEA.verify(c.data, c.pub); out({ event: 'verify', id: c.id, value: v === undefined ? null : v }); },
  work: async (c) => out({ event: 'work', id: c.id, proof: (await SEA.work(c.data, c.salt || null, null, c.opt || {})) || null }),
  graph: (c) => out({ event: 'graph', id: c.id, graph: gun._.graph }),
});
