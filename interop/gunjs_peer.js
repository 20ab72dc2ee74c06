// A plain Gun.js peer (npm gun, WebSocket only), driven by JSON lines (see lineproto.js).
//   node gunjs_peer.js <peer-url> [<peer-url> ...]
// Besides lineproto's commands: graph {id, soul} prints {"event":"graph","id","soul","node"},
// the node this peer's own graph holds for the soul (null: none), asking no one.
process.env.MULTICAST = 'false';
const Gun = require('gun');
const { serve, out } = require('./lineproto');

const gun = Gun({ peers: process.argv.slice(2), multicast: false, radisk: false, localStorage: false, file: false, axe: false });
serve(gun, {
  graph: (c) => out({ event: 'graph', id: c.id, soul: c.soul, node: gun._.graph[c.soul] || null }),
});
